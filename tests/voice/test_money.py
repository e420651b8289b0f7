"""Money before traffic on voice, and live calls never on the sandbox network: a live call or
callback call reserves a minute per leg (402 when it does not fit), each leg settles its real
cost when it ends; without a live voice route a live call is a 400 ``no_route`` (or fails
``no_route`` if the engine has no live connector)."""

from __future__ import annotations

import httpx
import pytest
from asgiref.sync import async_to_sync

from billing import leases
from billing.models import UsageEvent
from cpaas.messaging.models import PhoneNumber
from cpaas.tenants.keys import api_key_create
from cpaas.voice import conf
from cpaas.voice.engine import CallEngine
from cpaas.voice.models import Call
from tests.conftest import client_for
from tests.support.money import available, capped, held, prepaid, price

CALLER = "+12025550142"  # a live number the app owns
TO = "+12025550123"
PER_MINUTE = [{"meter": "voice_seconds", "model": "per_unit", "unit_price": "1.20", "increments": [60, 60]}]


pytestmark = pytest.mark.usefixtures("money_state")


@pytest.fixture
def live(app):
    PhoneNumber.objects.create(tenant_id=app.tenant_id, app=app, number=CALLER, country="US", mode="live",
                               capabilities=["voice"])
    return client_for(api_key_create(app=app, name="live", mode="live").secret)


@pytest.fixture
def live_route(monkeypatch):
    monkeypatch.setattr(conf, "VOICE_LIVE_CONNECTOR", "sip")


def call(client, **extra):
    body = {"to": TO, "from": CALLER, "instructions": '<Response><Pause length="61"/></Response>', **extra}
    return client.post("/v1/calls", body, format="json")


def callback(client):
    body = {"party_a": "+12025550101", "party_b": "+12025550102", "caller_id_a": CALLER, "caller_id_b": CALLER}
    return client.post("/v1/calls/callback", body, format="json")


def test_a_live_call_without_a_live_voice_route_is_a_400_no_route(live):
    response = call(live)
    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == ("no_route", "to")
    refused = callback(live)
    assert (refused.json()["error"]["code"], refused.json()["error"]["param"]) == ("no_route", "party_a")
    assert not Call.objects.exists()


def test_the_engine_fails_a_live_call_it_has_no_live_connector_for(live, live_route, voice):
    call_id = call(live).json()["id"]

    async def run():
        async with httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(404))) as http:
            engine = CallEngine(clock=voice.clock, connector_for=lambda mode: voice.network if mode == "test" else None,
                                http=http)
            return await engine.run_call(call_id)

    assert async_to_sync(run)() == "failed"
    row = Call.objects.get(pk=call_id)
    assert (row.status, row.error_code, row.hangup_cause) == ("failed", "no_route", "no_route")
    assert voice.network.spoken == []


def test_an_exhausted_prepaid_account_cannot_place_calls_or_callbacks(tenant, live, live_route):
    price(tenant, PER_MINUTE)
    prepaid(tenant, "0")
    refused = call(live)
    assert refused.status_code == 402
    assert (refused.json()["error"]["code"], refused.json()["error"]["param"]) == ("insufficient_funds", None)
    assert callback(live).json()["error"]["code"] == "insufficient_funds"
    assert not Call.objects.exists()


def test_a_spend_cap_refuses_a_callback_that_needs_two_legs(tenant, app, live, live_route):
    price(tenant, PER_MINUTE)
    capped(app, 200)  # 2.00: one leg's minute fits, a callback's two do not
    refused = callback(live)
    assert (refused.status_code, refused.json()["error"]["code"]) == (402, "spend_cap_exceeded")
    assert held(app) == 0
    assert call(live).status_code == 201


def test_test_calls_are_never_reserved_and_their_usage_is_test_usage(tenant, app, api, voice):
    price(tenant, PER_MINUTE)
    prepaid(tenant, "0")
    body = {"to": TO, "from": "+15005559000", "instructions": '<Response><Pause length="5"/></Response>'}
    response = api.post("/v1/calls", body, format="json")
    assert response.status_code == 201
    assert held(app) == 0
    voice.run(response.json()["id"])
    assert UsageEvent.objects.get(app=app).mode == "test"


def test_a_leg_settles_its_real_cost_when_it_ends(tenant, app, live, live_route, voice,
                                                 django_capture_on_commit_callbacks):
    price(tenant, PER_MINUTE)
    prepaid(tenant, "2.40")
    call_id = call(live).json()["id"]
    assert (held(app), available(tenant)) == (1_200_000, 1_200_000)
    with django_capture_on_commit_callbacks(execute=True):
        assert voice.run(call_id) == ["completed"]
    # 61 s in 60/60 increments = 2 minutes = 2.40: the hold became the real cost.
    assert (held(app), available(tenant)) == (0, 0)
    assert UsageEvent.objects.get(app=app).mode == "live"
    assert call(live).json()["error"]["code"] == "insufficient_funds"


def test_steady_calls_reserve_from_a_slice_and_a_leg_settles_its_real_cost(
        tenant, app, live, live_route, voice, django_capture_on_commit_callbacks):
    # Calls take the same per-process slice as SMS (decision 1000); a leg's real cost lands on the
    # balance whether it settles before or after the slice comes back.
    price(tenant, PER_MINUTE)
    prepaid(tenant, "1000.00")
    ids = [call(live).json()["id"] for _ in range(40)]
    assert leases._table[app.pk].lease_id  # the last calls were reserved from a slice
    with django_capture_on_commit_callbacks(execute=True):
        assert voice.run(ids[-1]) == ["completed"]
    leases.return_all()
    # 39 legs still held at a minute each; the one that ran cost 2 minutes (61 s in 60/60).
    assert held(app) == 39 * 1_200_000
    assert available(tenant) == 1_000_000_000 - 39 * 1_200_000 - 2_400_000
