import json
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from tests.webhooks.conftest import run
from webhooks import conf, publish
from webhooks.models import Attempt, Delivery, Event
from webhooks.services import endpoint_rotate_secret


def test_it_delivers_a_published_event_signed_so_standardwebhooks_verifies_it(app, receiver, dispatcher, make_endpoint):
    created = make_endpoint(receiver.url("/ok"))
    event = publish(app, "ping", {"endpoint_id": "x", "message": "hi"}, idempotency_key="k1", livemode=False)

    assert run(dispatcher) == 1

    (request,) = receiver.requests
    payload = Webhook(created.secret).verify(request["body"], request["headers"])
    assert payload["id"] == event.id
    assert payload["type"] == "ping"
    assert payload["data"] == {"endpoint_id": "x", "message": "hi"}
    assert payload["created"].endswith("Z")
    assert request["headers"]["webhook-id"] == event.id
    delivery = Delivery.objects.get()
    assert delivery.status == "succeeded"
    assert delivery.attempts == 1
    attempt = Attempt.objects.get()
    assert attempt.status_code == 200
    assert attempt.response_body == "ok"
    assert attempt.request_headers["webhook-signature"].startswith("v1,")


def test_it_creates_deliveries_only_for_enabled_endpoints_whose_filter_matches(app, make_endpoint):
    everything = make_endpoint("https://hooks.example.com/all").endpoint
    pings = make_endpoint("https://hooks.example.com/ping", event_types=["ping"]).endpoint
    make_endpoint("https://hooks.example.com/other", event_types=["webhook.attempt.failing"])
    make_endpoint("https://hooks.example.com/off", enabled=False)

    publish(app, "ping", {"endpoint_id": "x", "message": "m"}, idempotency_key="k1", livemode=False)

    assert set(Delivery.objects.values_list("endpoint_id", flat=True)) == {everything.id, pings.id}


def test_it_records_an_event_once_per_idempotency_key(app, make_endpoint):
    make_endpoint("https://hooks.example.com/all")
    first = publish(app, "ping", {"id": "msg_1"}, idempotency_key="same", livemode=False)
    second = publish(app, "ping", {"id": "msg_1"}, idempotency_key="same", livemode=False)
    assert first.id == second.id
    assert Event.objects.count() == 1
    assert Delivery.objects.count() == 1


def test_it_numbers_events_per_subject(app):
    a1 = publish(app, "ping", {"id": "msg_a"}, idempotency_key="1", livemode=False)
    b1 = publish(app, "ping", {"id": "msg_b"}, idempotency_key="2", livemode=False)
    a2 = publish(app, "ping", {"id": "msg_a"}, idempotency_key="3", livemode=False)
    assert (a1.sequence, b1.sequence, a2.sequence) == (1, 1, 2)
    assert a2.subject == "msg_a"


def test_it_starts_sending_on_commit_with_one_kick_for_a_burst(app, make_endpoint, monkeypatch,
                                                               django_capture_on_commit_callbacks, clear_cache):
    import uuid

    from webhooks import services, tasks

    sent = []
    monkeypatch.setattr(tasks.dispatch, "delay", lambda: sent.append(1))
    monkeypatch.setattr(services, "KICK_KEY", f"test-kick-{uuid.uuid4().hex}")  # not shared with other runs
    make_endpoint("https://hooks.example.com/all")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        for n in range(50):
            publish(app, "ping", {"id": f"msg_{n}"}, idempotency_key=f"k{n}", livemode=False)
    assert callbacks
    assert sent == [1]


def test_it_does_not_send_before_commit(app, make_endpoint, monkeypatch, django_capture_on_commit_callbacks):
    from webhooks import tasks

    sent = []
    monkeypatch.setattr(tasks.dispatch, "delay", lambda: sent.append(1))
    make_endpoint("https://hooks.example.com/all")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        publish(app, "ping", {"id": "msg_1"}, idempotency_key="k", livemode=False)
    assert len(callbacks) == 1
    assert sent == []


def test_it_signs_with_the_old_and_new_secret_for_a_day_after_rotation(app, receiver, dispatcher, make_endpoint):
    created = make_endpoint(receiver.url("/ok"))
    new_secret = endpoint_rotate_secret(endpoint=created.endpoint)

    publish(app, "ping", {"endpoint_id": "x", "message": "m"}, idempotency_key="k1", livemode=False)
    run(dispatcher)

    request = receiver.requests[-1]
    assert len(request["headers"]["webhook-signature"].split(" ")) == 2
    Webhook(new_secret).verify(request["body"], request["headers"])
    Webhook(created.secret).verify(request["body"], request["headers"])


def test_it_stops_signing_with_an_old_secret_after_the_overlap(app, receiver, dispatcher, make_endpoint):
    created = make_endpoint(receiver.url("/ok"))
    endpoint = created.endpoint
    endpoint_rotate_secret(endpoint=endpoint, now=timezone.now() - timedelta(seconds=conf.ROTATION_OVERLAP_SECONDS + 1))
    endpoint.refresh_from_db()

    publish(app, "ping", {"endpoint_id": "x", "message": "m"}, idempotency_key="k1", livemode=False)
    run(dispatcher)

    assert len(receiver.requests[-1]["headers"]["webhook-signature"].split(" ")) == 1


def test_it_keeps_at_most_five_old_secrets(make_endpoint):
    endpoint = make_endpoint("https://hooks.example.com/all").endpoint
    for _ in range(8):
        endpoint_rotate_secret(endpoint=endpoint)
    endpoint.refresh_from_db()
    assert len(endpoint.secrets) == 6
    assert sum(1 for entry in endpoint.secrets if entry["expires_at"] is None) == 1


def test_it_stores_secrets_encrypted(make_endpoint):
    created = make_endpoint("https://hooks.example.com/all")
    stored = json.dumps(created.endpoint.secrets)
    assert created.secret not in stored
    assert created.secret.removeprefix("whsec_") not in stored


def test_it_decrypts_secrets_after_the_encryption_key_is_rotated(make_endpoint, settings):
    from cryptography.fernet import Fernet

    from cpaas.core import crypto
    from webhooks.services import _plain_secrets, active_secrets

    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SECRET_ENCRYPTION_KEYS = [old_key]
    created = make_endpoint("https://hooks.example.com/all")
    settings.SECRET_ENCRYPTION_KEYS = [new_key, old_key]
    _plain_secrets.clear()
    assert active_secrets(created.endpoint) == [created.secret]
    assert crypto.decrypt(crypto.encrypt("x")) == "x"


@pytest.mark.parametrize("path", ["/status/500", "/redirect", "/big", "/close", "/sleep/3"])
def test_a_misbehaving_receiver_costs_one_logged_attempt(app, receiver, dispatcher, make_endpoint, monkeypatch, path):
    monkeypatch.setattr(conf, "TOTAL_TIMEOUT", 1.0)
    make_endpoint(receiver.url(path))
    publish(app, "ping", {"endpoint_id": "x", "message": "m"}, idempotency_key="k1", livemode=False)

    run(dispatcher)

    attempt = Attempt.objects.get()
    delivery = Delivery.objects.get()
    assert len(attempt.response_body) <= conf.STORED_RESPONSE_BYTES
    if path == "/big":
        # 2xx is success, but we stopped reading at 64 KiB
        assert attempt.succeeded
        assert "response cut" in attempt.error
        assert delivery.status == "succeeded"
        return
    assert not attempt.succeeded
    assert delivery.status == "pending"
    assert delivery.attempts == 1
    assert delivery.next_attempt_at > timezone.now()
    assert attempt.error or attempt.status_code == 500
    if path == "/redirect":
        assert "169.254.169.254" in attempt.error
    if path == "/sleep/3":
        assert "timed out" in attempt.error
        assert delivery.next_attempt_at >= timezone.now() + timedelta(seconds=55)


def test_a_redirect_to_the_metadata_address_is_never_followed(app, receiver, dispatcher, make_endpoint, monkeypatch):
    from cpaas.core.egress import ssrf

    connected = []
    real = ssrf.checked_addresses
    monkeypatch.setattr(ssrf, "checked_addresses", lambda host, port: connected.append(host) or real(host, port))
    make_endpoint(receiver.url("/redirect"))
    publish(app, "ping", {"endpoint_id": "x", "message": "m"}, idempotency_key="k1", livemode=False)

    run(dispatcher)

    assert connected  # at creation and at connect: only the receiver itself
    assert set(connected) == {"127.0.0.1"}
    assert len(receiver.requests) == 1
    assert "redirect to http://169.254.169.254/latest/meta-data/ not followed" in Attempt.objects.get().error


def test_a_process_kicks_at_most_once_per_half_second_even_across_commits(monkeypatch, clear_cache):
    import uuid

    from webhooks import services, tasks

    sent = []
    monkeypatch.setattr(tasks.dispatch, "delay", lambda: sent.append(1))
    monkeypatch.setattr(services, "KICK_KEY", f"test-kick-{uuid.uuid4().hex}")
    clock = [100.0]
    monkeypatch.setattr(services.time, "monotonic", lambda: clock[0])
    services.dispatch_kick()
    services.cache.delete(services.KICK_KEY)  # as if the shared key had expired
    clock[0] += 0.2
    services.dispatch_kick()
    assert sent == [1]
    clock[0] += 0.4
    services.dispatch_kick()
    assert sent == [1, 1]
