"""Callback calls: ring A, then B showing the chosen caller id, bridge; every branch, time controlled."""

from __future__ import annotations

from datetime import timedelta

from billing.models import UsageEvent
from cpaas.voice.engine import B_UNAVAILABLE
from cpaas.voice.models import Call, CallLeg, Recording
from webhooks.models import Event

FROM = "+15005559000"
A = "+12025550101"  # default sandbox behaviour: answers after 1 s setup + 3 s ringing, stays on
B = "+12025550102"


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def callback(api, *, a=A, b=B, **extra) -> str:
    body = {"party_a": a, "party_b": b, "caller_id_a": FROM, "caller_id_b": a, **extra}
    response = api.post("/v1/calls/callback", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def legs(call_id: str) -> tuple[CallLeg, CallLeg]:
    a, b = CallLeg.objects.filter(call_id=call_id).order_by("position")
    return a, b


def test_a_hanging_up_first_ends_the_call_and_b_with_exact_cdrs(api, voice):
    call_id = callback(api, a="+15005551020")
    t0 = voice.clock.now()
    assert voice.run(call_id) == ["completed"]
    a, b = legs(call_id)
    assert (a.answered_at, b.initiated_at, b.ringing_at, b.answered_at) == (t0 + s(4), t0 + s(4), t0 + s(5),
                                                                            t0 + s(8))
    assert (a.duration_seconds, a.hangup_by, a.ended_at) == (20, "remote", t0 + s(24))
    assert (b.duration_seconds, b.hangup_by, b.hangup_cause) == (16, "platform", "party_a_hangup")
    assert (a.ring_seconds, b.ring_seconds) == (3, 3)
    call = Call.objects.get(pk=call_id)
    assert (call.status, call.hangup_cause, call.duration_seconds) == ("completed", "party_a_hangup", 20)
    assert b.from_number == "+15005551020"  # B sees A's number
    assert voice.network.bridges == [(a.id, b.id)]


def test_b_hanging_up_first_ends_the_call(api, voice):
    call_id = callback(api, b="+15005551010")
    voice.run(call_id)
    a, b = legs(call_id)
    assert (b.duration_seconds, b.hangup_by, a.duration_seconds, a.hangup_by) == (10, "remote", 14, "platform")
    assert Call.objects.get(pk=call_id).hangup_cause == "party_b_hangup"


def test_the_time_limit_ends_a_bridged_callback(api, voice):
    call_id = callback(api, time_limit=30)
    voice.run(call_id)
    a, b = legs(call_id)
    assert (a.duration_seconds, b.duration_seconds) == (34, 30)
    assert {a.hangup_cause, b.hangup_cause} == {"time_limit"}
    assert Call.objects.get(pk=call_id).hangup_cause == "time_limit"


def test_b_is_never_rung_when_a_does_not_answer(api, voice):
    call_id = callback(api, a="+15005550002", timeout=20)
    t0 = voice.clock.now()
    assert voice.run(call_id) == ["no-answer"]
    a, b = legs(call_id)
    assert (a.status, a.ring_seconds, a.ended_at) == ("no-answer", 20, t0 + s(21))
    assert (b.status, b.initiated_at, b.hangup_cause) == ("canceled", None, "party_a_not_answered")
    assert voice.network.originated == 1
    assert Call.objects.get(pk=call_id).hangup_cause == "party_a_no_answer"
    assert not UsageEvent.objects.exists()


def test_b_is_never_rung_when_a_is_busy(api, voice):
    call_id = callback(api, a="+15005550001")
    assert voice.run(call_id) == ["busy"]
    a, b = legs(call_id)
    assert (a.status, b.status, voice.network.originated) == ("busy", "canceled", 1)


def test_a_hears_a_message_and_is_released_when_b_does_not_answer(api, voice):
    call_id = callback(api, b="+15005550002", timeout=20)
    t0 = voice.clock.now()
    assert voice.run(call_id) == ["completed"]
    a, b = legs(call_id)
    assert (b.status, b.ring_seconds, b.ended_at) == ("no-answer", 20, t0 + s(25))
    assert voice.network.spoken == [(a.id, B_UNAVAILABLE)]
    speech = len(B_UNAVAILABLE.split()) / 2.5
    assert a.ended_at == t0 + s(25 + speech) and a.duration_seconds == 27
    assert Call.objects.get(pk=call_id).hangup_cause == "party_b_no_answer"
    assert [u.dimensions["leg"] for u in UsageEvent.objects.all()] == ["a"]


def test_a_hears_a_message_when_b_is_busy(api, voice):
    call_id = callback(api, b="+15005550001")
    voice.run(call_id)
    a, b = legs(call_id)
    assert (a.status, b.status, b.sip_code) == ("completed", "busy", 486)
    assert voice.network.spoken == [(a.id, B_UNAVAILABLE)]
    assert Call.objects.get(pk=call_id).hangup_cause == "party_b_busy"


def test_a_hears_a_message_when_b_fails(api, voice):
    call_id = callback(api, b="+15005550003")
    voice.run(call_id)
    assert Call.objects.get(pk=call_id).hangup_cause == "party_b_failed"
    assert voice.network.spoken[0][1] == B_UNAVAILABLE


def test_a_hears_the_prompt_while_b_rings(api, voice):
    call_id = callback(api, prompt="Please hold while we connect you.", b="+15005551005")
    voice.run(call_id)
    a, _ = legs(call_id)
    assert voice.network.spoken[0] == (a.id, "Please hold while we connect you.")


def test_a_hanging_up_while_b_rings_cancels_b(api, voice):
    call_id = callback(api, a="+15005551002", b="+15005550002")
    t0 = voice.clock.now()
    voice.run(call_id)
    a, b = legs(call_id)
    assert (a.duration_seconds, a.hangup_by) == (2, "remote")
    assert (b.status, b.ended_at, b.sip_code) == ("canceled", t0 + s(6), 487)
    assert Call.objects.get(pk=call_id).hangup_cause == "party_a_hangup"


def test_a_callback_hung_up_through_the_api_ends_both_legs(api, app, voice, modify):
    call_id = callback(api)

    async def hang_up():
        await voice.clock.sleep(40)
        await modify(app.id, call_id, status="completed")

    voice.run(call_id, during=hang_up)
    a, b = legs(call_id)
    assert (a.duration_seconds, b.duration_seconds) == (36, 32)
    assert Call.objects.get(pk=call_id).hangup_cause == "api_hangup"


def test_a_recorded_callback_stores_the_bridge(api, voice):
    call_id = callback(api, b="+15005551015", record=True)
    voice.run(call_id)
    recording = Recording.objects.get(call_id=call_id)
    assert (recording.source, recording.duration_seconds, recording.leg_id) == ("call", 15, None)


def test_each_leg_of_a_callback_is_metered_with_its_dimensions(api, app, voice):
    call_id = callback(api, b="+15005551010", a="+8613800138000")
    voice.run(call_id)
    usage = sorted((u.dimensions["leg"], u.dimensions["country"], int(u.quantity))
                   for u in UsageEvent.objects.filter(app=app))
    assert usage == [("a", "CN", 14), ("b", "US", 10)]
    assert all(u.dimensions["direction"] == "outbound" for u in UsageEvent.objects.all())


def test_a_callback_publishes_call_and_leg_events(api, voice):
    call_id = callback(api, b="+15005551010")
    voice.run(call_id)
    call_events = sorted(e.type for e in Event.objects.filter(data__call_id=call_id, type__startswith="call.")
                         if "leg_id" not in e.data)
    assert call_events == ["call.answered", "call.completed", "call.initiated", "call.ringing"]
    completed = Event.objects.filter(type="call.leg.completed", data__call_id=call_id)
    assert sorted(e.data["role"] for e in completed) == ["a", "b"]
    assert {e.data["duration"] for e in completed} == {10, 14}
