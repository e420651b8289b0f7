"""A call's status_callback: recorded durably with each transition, delivered by the webhooks outbox."""

from __future__ import annotations

import json

from standardwebhooks.webhooks import Webhook

from cpaas.voice.signing import signing_secret
from webhooks.callback_models import Callback
from webhooks.callbacks import callbacks_deliver

from .test_engine_calls import place


def bodies(call_id: str) -> list[dict]:
    rows = Callback.objects.filter(idempotency_key__startswith=call_id).order_by("created_at", "id")
    return [json.loads(row.body) for row in rows]


def test_the_chosen_events_are_recorded_with_their_transitions_and_the_engine_posts_nothing(api, app, voice):
    call_id = place(api, "<Response><Say>Hi</Say></Response>", status_callback="https://tenant.example/status",
                    status_events=["answered", "completed"])
    voice.run(call_id)
    assert voice.requests == []  # no request leaves the engine: the webhooks worker sends them
    sent = bodies(call_id)
    assert [(b["type"], b["data"]["event"], b["data"]["call_status"]) for b in sent] == [
        ("call.answered", "answered", "in-progress"), ("call.completed", "completed", "completed")]
    assert sent[1]["data"]["duration"] == 1 and sent[1]["data"]["hangup_cause"] == "document_end"
    assert {row.channel for row in Callback.objects.all()} == {"voice.test"}  # a test call: the test secret signs it


def test_a_callback_call_reports_every_default_event(api, voice):
    response = api.post("/v1/calls/callback", {
        "party_a": "+12025550101", "party_b": "+15005551010", "caller_id_a": "+15005559000",
        "caller_id_b": "+12025550101", "status_callback": "https://tenant.example/status"}, format="json")
    call_id = response.json()["id"]
    voice.run(call_id)
    assert [b["data"]["event"] for b in bodies(call_id)] == ["initiated", "ringing", "answered", "completed"]


def test_they_reach_the_tenant_signed_with_the_apps_voice_secret(api, app, voice, receiver):
    call_id = place(api, "<Response><Say>Hi</Say></Response>", status_callback=f"{receiver.base}/status",
                    status_events=["completed"])
    voice.run(call_id)
    assert callbacks_deliver()["delivered"] == 1
    [(headers, body)] = receiver.posted("/status")
    payload = Webhook(signing_secret(app.id, "test")).verify(body.decode(), headers)
    assert payload["type"] == "call.completed" and payload["data"]["call_id"] == call_id


def test_a_tenant_down_at_the_time_gets_it_later(api, voice, receiver):
    receiver.answer("/status", 503)
    call_id = place(api, "<Response><Say>Hi</Say></Response>", status_callback=f"{receiver.base}/status",
                    status_events=["completed"])
    voice.run(call_id)
    assert callbacks_deliver()["retrying"] == 1
    receiver.answer("/status", 200)
    Callback.objects.update(next_attempt_at=Callback.objects.get().created_at)
    assert callbacks_deliver()["delivered"] == 1
    (h1, b1), (h2, b2) = receiver.posted("/status")
    assert (h1["webhook-id"], b1) == (h2["webhook-id"], b2)
