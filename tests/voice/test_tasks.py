"""The voice queue's tasks: claim a call once, sweep calls nobody runs any more."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from cpaas.voice import runtime, states, tasks
from cpaas.voice.models import Call, CallLeg
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
