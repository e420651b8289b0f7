from types import SimpleNamespace

import pytest

import billing
import webhooks
from cpaas.core.redis_client import redis_client
from cpaas.messaging import app_settings, pricing
from cpaas.messaging.route import routing_reset


@pytest.fixture(autouse=True)
def _fresh_sms_state():
    app_settings.caches_clear()
    routing_reset()
    pricing.cache.clear()
    client = redis_client()
    if client is not None:
        for key in client.scan_iter("cpaas:sms:*"):
            client.delete(key)
    yield
    app_settings.caches_clear()
    routing_reset()


@pytest.fixture
def number(api):
    response = api.post("/v1/numbers", {}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["number"]


@pytest.fixture
def live(live_api):
    """A live key's client whose app may send to the US (a live send needs its country allowed)."""
    assert live_api.post("/v1/sms/settings", {"allowed_countries": ["US"]}, format="json").status_code == 200
    return live_api


def send(api, **fields):
    body = {"to": "+15005550000", "from": "Acme", "body": "Hello"}
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    return api.post("/v1/messages", body, format="json")


_current = SimpleNamespace(events=[], usage=[])  # the contract calls of the running test


def events_for(message_id):
    """(type, sequence) of the events published for one message, in order."""
    return [(e.type, e.data["sequence"]) for e in _current.events if e.data["id"] == message_id]


def events_of(type, message_id=None):
    return [e for e in _current.events if e.type == type and (message_id is None or e.data["id"] == message_id)]


@pytest.fixture(autouse=True)
def contracts(monkeypatch):
    """Record every call across the two room contracts (and make it): tests assert on the calls,
    not on the webhooks and billing rooms' own tables, which those rooms are free to change."""
    calls = SimpleNamespace(events=[], usage=[])
    real_publish, real_publish_many, real_record = webhooks.publish, webhooks.publish_many, billing.record_usage

    def publish(app, type, data, *, idempotency_key, livemode):
        calls.events.append(SimpleNamespace(app=app, type=type, data=data, key=idempotency_key, livemode=livemode))
        return real_publish(app, type, data, idempotency_key=idempotency_key, livemode=livemode)

    def publish_many(app, events, *, livemode, returning=True):
        events = list(events)
        for type, data, key in events:
            calls.events.append(SimpleNamespace(app=app, type=type, data=data, key=key, livemode=livemode))
        return real_publish_many(app, events, livemode=livemode, returning=returning)

    def record_usage(app, meter, quantity, *, subject=None, dimensions=None, occurred_at, idempotency_key, mode):
        calls.usage.append(SimpleNamespace(app=app, meter=meter, quantity=quantity, dimensions=dimensions,
                                           occurred_at=occurred_at, key=idempotency_key, mode=mode))
        return real_record(app, meter, quantity, subject=subject, dimensions=dimensions,
                           occurred_at=occurred_at, idempotency_key=idempotency_key, mode=mode)

    monkeypatch.setattr(webhooks, "publish", publish)
    monkeypatch.setattr(webhooks, "publish_many", publish_many)
    monkeypatch.setattr(billing, "record_usage", record_usage)
    global _current
    _current = calls
    return calls
