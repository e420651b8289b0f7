"""The voice queue's tasks: claim a call once, sweep calls nobody runs any more."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import UsageEvent
from cpaas.carriers.base import UnknownKind
from cpaas.voice import conf, runtime, states, tasks
from cpaas.voice.lease import engine_name, lease_renew
from cpaas.voice.models import Call, CallLeg, VoiceEngine
from webhooks.models import Event


@pytest.fixture
def call_id(api) -> str:
    response = api.post("/v1/calls", {"to": "+12025550123", "from": "+15005559000",
                                      "instructions": "<Response><Say>Hi</Say></Response>"}, format="json")
    return response.json()["id"]


@pytest.fixture
def submitted(monkeypatch):
    calls = []

    class FakeRuntime:
        def submit(self, call_id):
            calls.append(call_id)

    monkeypatch.setattr(runtime, "get_runtime", lambda: FakeRuntime())
    return calls


def test_dispatch_claims_a_call_once(call_id, submitted):
    assert tasks.call_dispatch(call_id) is True
    assert tasks.call_dispatch(call_id) is False
    assert submitted == [call_id]
    assert Call.objects.get(pk=call_id).claimed_by


def test_dispatch_skips_a_call_canceled_before_it_ran(api, call_id, submitted):
    api.post(f"/v1/calls/{call_id}", {"status": "canceled"}, format="json")
    assert tasks.call_dispatch(call_id) is False and submitted == []


def test_the_sweeper_requeues_calls_nobody_claimed(call_id, monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.call_dispatch, "apply_async", lambda args, queue: sent.append(args[0]))
    assert tasks.call_sweep() == {"requeued": 0, "failed": 0}
    Call.objects.filter(pk=call_id).update(created_at=timezone.now() - timedelta(minutes=5))
    assert tasks.call_sweep() == {"requeued": 1, "failed": 0}
    assert sent == [call_id]


def test_the_sweeper_fails_calls_whose_engine_is_gone(call_id):
    long_ago = timezone.now() - timedelta(hours=6)
    Call.objects.filter(pk=call_id).update(status=states.IN_PROGRESS, claimed_at=long_ago)
    CallLeg.objects.filter(call_id=call_id).update(status=states.IN_PROGRESS)
    assert tasks.call_sweep() == {"requeued": 0, "failed": 1}
    call = Call.objects.get(pk=call_id)
    assert (call.status, call.hangup_cause, call.error_code) == ("failed", "engine_lost", "engine_lost")
    assert CallLeg.objects.get(call_id=call_id).status == "failed"
    assert Event.objects.filter(type="call.completed", data__status="failed").count() == 1
    assert tasks.call_sweep() == {"requeued": 0, "failed": 0}


def _in_progress(call_id: str, *, engine: str, claimed_ago: int, answered_ago: int) -> None:
    now = timezone.now()
    Call.objects.filter(pk=call_id).update(status=states.IN_PROGRESS, claimed_by=engine,
                                           claimed_at=now - timedelta(seconds=claimed_ago),
                                           answered_at=now - timedelta(seconds=answered_ago))
    CallLeg.objects.filter(call_id=call_id).update(status=states.IN_PROGRESS,
                                                   answered_at=now - timedelta(seconds=answered_ago))


def test_a_call_whose_engine_stopped_renewing_its_lease_fails_within_two_minutes(call_id):
    """Not hours later (ring time + a 4 h time limit): the engine's lease says it is gone."""
    dead = "worker-1:4242:dead0000"
    _in_progress(call_id, engine=dead, claimed_ago=110, answered_ago=100)
    last_beat = timezone.now() - timedelta(seconds=conf.VOICE_ENGINE_LEASE_SECONDS + 1)
    lease_renew(dead, now=last_beat)
    assert tasks.call_sweep() == {"requeued": 0, "failed": 1}

    call = Call.objects.get(pk=call_id)
    assert (call.status, call.hangup_cause, call.error_code) == ("failed", "engine_lost", "engine_lost")
    leg = CallLeg.objects.get(call_id=call_id)
    assert (leg.status, leg.hangup_cause, leg.hangup_by) == ("failed", "engine_lost", "platform")
    # Billed up to the engine's last sign of life, not up to the sweep.
    assert leg.billable_seconds == 100 - conf.VOICE_ENGINE_LEASE_SECONDS - 1
    (usage,) = UsageEvent.objects.filter(meter="voice_seconds")
    assert usage.quantity == leg.billable_seconds
    assert Event.objects.filter(type="call.completed", data__status="failed",
                                data__hangup_cause="engine_lost").count() == 1
    assert tasks.call_sweep()["failed"] == 0


def test_a_call_whose_engine_never_renewed_a_lease_fails_once_the_grace_is_over(call_id):
    _in_progress(call_id, engine="worker-1:4243:gone0000", claimed_ago=conf.VOICE_ENGINE_LEASE_SECONDS - 5,
                 answered_ago=10)
    assert tasks.call_sweep()["failed"] == 0
    Call.objects.filter(pk=call_id).update(
        claimed_at=timezone.now() - timedelta(seconds=conf.VOICE_ENGINE_LEASE_SECONDS + 1))
    assert tasks.call_sweep()["failed"] == 1
    assert CallLeg.objects.get(call_id=call_id).billable_seconds == 0  # nothing vouches for any second


def test_the_sweeper_leaves_the_calls_of_an_engine_renewing_its_lease(call_id):
    _in_progress(call_id, engine=engine_name(), claimed_ago=3600, answered_ago=3590)
    lease_renew(engine_name())
    assert tasks.call_sweep()["failed"] == 0
    assert Call.objects.get(pk=call_id).status == states.IN_PROGRESS


def test_the_sweeper_forgets_leases_expired_a_day_ago(db):
    lease_renew("old:1:x", now=timezone.now() - timedelta(days=2))
    lease_renew("new:1:x")
    tasks.call_sweep()
    assert list(VoiceEngine.objects.values_list("name", flat=True)) == ["new:1:x"]


def test_a_claim_names_this_process_engine(call_id, submitted):
    assert tasks.call_dispatch(call_id)
    assert Call.objects.get(pk=call_id).claimed_by == engine_name()


def test_the_sweeper_leaves_live_calls_within_their_limits(call_id):
    Call.objects.filter(pk=call_id).update(status=states.IN_PROGRESS, claimed_at=timezone.now())
    assert tasks.call_sweep()["failed"] == 0


def test_the_event_types_are_declared_with_schemas():
    from cpaas.voice.events import EVENT_TYPES

    names = [t["type"] for t in EVENT_TYPES]
    assert len(names) == len(set(names))
    assert {"call.initiated", "call.ringing", "call.answered", "call.completed", "call.error"} <= set(names)
    assert all(t["version"] == 1 and t["description"] and t["schema"]["type"] == "object" for t in EVENT_TYPES)


def test_the_openapi_document_lists_the_voice_endpoints(anon):
    import json

    paths = json.loads(anon.get("/v1/openapi.json?format=json").content)["paths"]
    assert {"/v1/calls", "/v1/calls/callback", "/v1/calls/{call_id}",
            "/v1/recordings/{recording_id}/audio"} <= set(paths)


def test_a_live_connector_kind_the_registry_does_not_know_fails_at_once_with_its_name(monkeypatch):
    monkeypatch.setattr(conf, "VOICE_LIVE_CONNECTOR", "smpp")  # an SMS-only kind
    with pytest.raises(UnknownKind, match=r"no voice connector of kind 'smpp' \(known: sandbox, sip\)"):
        runtime.EngineRuntime()
