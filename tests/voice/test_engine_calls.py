"""Outbound calls played out by the engine on the sandbox network, with time controlled."""

from __future__ import annotations

import io
import wave
from datetime import timedelta

import httpx
from standardwebhooks.webhooks import Webhook

from billing.models import UsageEvent
from cpaas.voice.engine import APOLOGY
from cpaas.voice.models import Call, CallLeg, CallLogEntry, Recording
from cpaas.voice.signing import signing_secret
from cpaas.voice.storage import recordings_storage
from webhooks.models import Event

FROM = "+15005559000"
TO = "+12025550123"  # answers after 1 s of setup and 3 s of ringing, stays on the line
APP_URL = "https://tenant.example/voice"


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def place(api, document: str | None = None, *, to: str = TO, **extra) -> str:
    body = {"to": to, "from": FROM, **extra}
    if "url" not in extra:
        body["instructions"] = document
    response = api.post("/v1/calls", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def types(call_id: str) -> list[str]:
    return sorted(e.type for e in Event.objects.filter(data__call_id=call_id))


def leg_a(call_id: str) -> CallLeg:
    return CallLeg.objects.get(call_id=call_id, role="a")


def test_a_call_runs_its_document_and_completes_with_its_cdr(api, app, voice):
    call_id = place(api, '<Response><Say>Hello there</Say><Pause length="10"/></Response>')
    t0 = voice.clock.now()
    assert voice.run(call_id) == ["completed"]
    call, leg = Call.objects.get(pk=call_id), leg_a(call_id)
    assert (leg.initiated_at, leg.ringing_at, leg.answered_at, leg.ended_at) == (t0, t0 + s(1), t0 + s(4), t0 + s(15))
    assert (leg.ring_seconds, leg.duration_seconds, leg.billable_seconds) == (3, 11, 11)
    assert (leg.status, leg.hangup_cause, leg.hangup_by, leg.sip_code) == ("completed", "document_end", "platform", 200)
    assert (call.status, call.duration_seconds, call.hangup_cause) == ("completed", 11, "document_end")
    assert call.answered_at == t0 + s(4) and call.ended_at == t0 + s(15)
    assert voice.network.spoken == [(leg.id, "Hello there")]
    # Leg A's own moves are the call's; its CDR still comes as call.leg.completed.
    assert types(call_id) == sorted(["call.initiated", "call.ringing", "call.answered", "call.completed",
                                     "call.leg.completed"])
    published = Event.objects.filter(data__call_id=call_id, type__startswith="call.").exclude(data__has_key="leg_id")
    assert sorted(e.data["status"] for e in published) == sorted(["initiated", "ringing", "in-progress",
                                                                  "completed"])


def test_a_completed_leg_records_its_billable_seconds(api, app, voice):
    call_id = place(api, '<Response><Pause length="61"/></Response>')
    voice.run(call_id)
    usage = UsageEvent.objects.get(app=app)
    assert usage.meter == "voice_seconds" and usage.quantity == 61
    assert usage.dimensions == {"direction": "outbound", "country": "US", "leg": "a"}
    assert usage.occurred_at == leg_a(call_id).ended_at


def test_running_a_call_twice_has_one_effect(api, voice):
    call_id = place(api, "<Response><Say>Hi</Say></Response>")
    assert voice.run(call_id, call_id) in (["completed", None], [None, "completed"])
    before = Event.objects.count()
    assert voice.run(call_id) == [None]
    assert Event.objects.count() == before and UsageEvent.objects.count() == 1


def test_a_busy_number_ends_the_call_busy_without_usage(api, voice):
    call_id = place(api, "<Response><Say>Hi</Say></Response>", to="+15005550001")
    assert voice.run(call_id) == ["busy"]
    leg = leg_a(call_id)
    assert (leg.status, leg.sip_code, leg.hangup_cause, leg.ringing_at) == ("busy", 486, "user_busy", None)
    assert Call.objects.get(pk=call_id).hangup_cause == "user_busy"
    assert "call.ringing" not in types(call_id) and "call.completed" in types(call_id)
    assert not UsageEvent.objects.exists()


def test_an_unanswered_number_ends_no_answer_after_the_ring_timeout(api, voice):
    call_id = place(api, "<Response><Say>Hi</Say></Response>", to="+15005550002", timeout=15)
    t0 = voice.clock.now()
    assert voice.run(call_id) == ["no-answer"]
    leg = leg_a(call_id)
    assert (leg.ring_seconds, leg.sip_code, leg.ended_at) == (15, 487, t0 + s(16))


def test_a_slow_answer_past_the_timeout_is_no_answer(api, voice):
    call_id = place(api, "<Response><Say>Hi</Say></Response>", to="+15005553040", timeout=30)
    assert voice.run(call_id) == ["no-answer"]


def test_an_unallocated_number_fails(api, voice):
    call_id = place(api, "<Response><Say>Hi</Say></Response>", to="+15005550003")
    assert voice.run(call_id) == ["failed"]
    assert leg_a(call_id).sip_code == 404


def test_the_far_end_hanging_up_ends_the_call(api, voice):
    call_id = place(api, '<Response><Pause length="600"/></Response>', to="+15005551042")
    assert voice.run(call_id) == ["completed"]
    leg = leg_a(call_id)
    assert (leg.duration_seconds, leg.hangup_by, leg.hangup_cause) == (42, "remote", "normal_clearing")
    assert Call.objects.get(pk=call_id).hangup_cause == "remote_hangup"


def test_the_time_limit_ends_the_call(api, voice):
    call_id = place(api, '<Response><Pause length="600"/></Response>', time_limit=25)
    voice.run(call_id)
    leg = leg_a(call_id)
    assert (leg.duration_seconds, leg.hangup_cause) == (25, "time_limit")


def test_gather_posts_the_digits_to_its_action(api, app, voice):
    voice.route("https://tenant.example/menu", '<Response><Say>Thanks</Say><Hangup/></Response>')
    call_id = place(api, '<Response><Gather numDigits="3" action="https://tenant.example/menu">'
                         '<Say>Enter your code</Say></Gather><Say>Nothing?</Say></Response>', to="+15005552417")
    voice.run(call_id)
    [params] = voice.posted("https://tenant.example/menu")
    assert params["digits"] == "417" and params["call_id"] == call_id and params["from"] == FROM
    spoken = [text for _, text in voice.network.spoken]
    assert spoken == ["Enter your code", "Thanks"]
    assert Call.objects.get(pk=call_id).hangup_cause == "hangup_verb"


def test_gather_stops_at_the_finish_key(api, voice):
    voice.route("https://tenant.example/menu", "<Response/>")
    call_id = place(api, '<Response><Gather action="https://tenant.example/menu"/></Response>', to="+15005552417")
    voice.run(call_id)
    assert voice.posted("https://tenant.example/menu")[0]["digits"] == "417"


def test_gather_without_input_falls_through_to_the_next_verb(api, voice):
    call_id = place(api, '<Response><Gather timeout="7" action="https://tenant.example/menu"><Say>Press 1</Say>'
                         '</Gather><Say>Goodbye</Say></Response>')
    t0 = voice.clock.now()
    voice.run(call_id)
    assert voice.posted("https://tenant.example/menu") == []
    assert [text for _, text in voice.network.spoken] == ["Press 1", "Goodbye"]
    assert leg_a(call_id).ended_at == t0 + s(4 + 1 + 7 + 1)


def test_the_call_url_is_fetched_with_a_signed_post(api, app, voice):
    voice.route(APP_URL, "<Response><Say>From the web</Say></Response>")
    call_id = place(api, url=APP_URL)
    voice.run(call_id)
    [(_url, params, request)] = voice.requests
    assert params["call_status"] == "in-progress" and params["to"] == TO
    verified = Webhook(signing_secret(app.id, "test")).verify(request.content.decode(), dict(request.headers))
    assert verified is not None
    assert voice.network.spoken[0][1] == "From the web"


def test_relative_action_urls_resolve_against_the_document_url(api, voice):
    voice.route(APP_URL, '<Response><Redirect>/next</Redirect></Response>')
    voice.route("https://tenant.example/next", "<Response><Say>Moved</Say></Response>")
    voice.run(place(api, url=APP_URL))
    assert [text for _, text in voice.network.spoken] == ["Moved"]


def test_a_redirect_loop_is_stopped(api, voice):
    voice.route(APP_URL, f"<Response><Redirect>{APP_URL}</Redirect></Response>")
    call_id = place(api, url=APP_URL)
    voice.run(call_id)
    assert Call.objects.get(pk=call_id).error_code == "too_many_fetches"


def test_a_fetch_timeout_apologises_hangs_up_and_reports_call_error(api, voice):
    voice.route(APP_URL, lambda params: httpx.ReadTimeout("slow"))
    call_id = place(api, url=APP_URL)
    assert voice.run(call_id) == ["completed"]
    call = Call.objects.get(pk=call_id)
    assert (call.error_code, call.hangup_cause) == ("document_fetch_timeout", "application_error")
    assert voice.network.spoken == [(leg_a(call_id).id, APOLOGY)]
    event = Event.objects.get(type="call.error")
    assert event.data["code"] == "document_fetch_timeout" and event.data["url"] == APP_URL
    assert CallLogEntry.objects.get(call_id=call_id, level="error").detail["code"] == "document_fetch_timeout"


def test_a_500_from_the_tenant_apologises_and_reports_call_error(api, voice):
    voice.route(APP_URL, httpx.Response(500))
    call_id = place(api, url=APP_URL)
    voice.run(call_id)
    assert Event.objects.get(type="call.error").data["message"] == "the URL answered HTTP 500"
    assert voice.network.spoken[0][1] == APOLOGY


def test_a_fetched_document_with_an_unknown_verb_reports_the_line(api, voice):
    voice.route(APP_URL, "<Response>\n<Say>Hi</Say>\n<Sing/>\n</Response>")
    call_id = place(api, url=APP_URL)
    voice.run(call_id)
    data = Event.objects.get(type="call.error").data
    assert (data["code"], data["line"]) == ("invalid_document", 3)
    assert "unknown verb <Sing>" in data["message"]
    assert voice.network.spoken[0][1] == APOLOGY


def test_a_fetched_document_that_is_not_xml_is_a_call_error(api, voice):
    voice.route(APP_URL, "<html>oops")
    voice.run(place(api, url=APP_URL))
    assert Event.objects.get(type="call.error").data["code"] == "invalid_document"


def test_dial_bridges_a_new_leg_and_posts_the_outcome(api, app, voice):
    voice.route("https://tenant.example/after", "<Response><Say>Bye</Say></Response>")
    call_id = place(api, '<Response><Dial action="https://tenant.example/after" timeout="20">+15005551030'
                         '</Dial></Response>')
    voice.run(call_id)
    dial = CallLeg.objects.get(call_id=call_id, role="dial")
    a = leg_a(call_id)
    assert (dial.status, dial.duration_seconds, dial.hangup_by, dial.from_number) == ("completed", 30, "remote", FROM)
    assert dial.timeout == 20 and dial.ring_seconds == 3
    assert voice.network.bridges == [(a.id, dial.id)]
    [params] = voice.posted("https://tenant.example/after")
    assert (params["dial_call_status"], params["dial_call_duration"]) == ("completed", 30)
    assert a.duration_seconds == 4 + 30 + 1
    assert sorted(UsageEvent.objects.values_list("dimensions__leg", "quantity")) == [("a", 35), ("dial", 30)]


def test_dial_to_a_busy_number_reports_busy_and_continues(api, voice):
    call_id = place(api, '<Response><Dial>+15005550001</Dial><Say>They are busy</Say></Response>')
    voice.run(call_id)
    assert CallLeg.objects.get(call_id=call_id, role="dial").status == "busy"
    assert voice.network.spoken[-1][1] == "They are busy"


def test_dial_with_a_caller_id_not_owned_is_a_call_error(api, voice):
    call_id = place(api, '<Response><Dial callerId="+12025550100">+12025550111</Dial></Response>')
    voice.run(call_id)
    assert Event.objects.get(type="call.error").data["code"] == "caller_id_not_owned"
    assert not CallLeg.objects.filter(call_id=call_id, role="dial").exists()


def test_the_caller_hanging_up_ends_the_dialled_leg_too(api, voice):
    call_id = place(api, "<Response><Dial>+12025550111</Dial></Response>", to="+15005551010")
    voice.run(call_id)
    dial = CallLeg.objects.get(call_id=call_id, role="dial")
    assert (dial.status, dial.hangup_by, dial.hangup_cause) == ("completed", "platform", "caller_hangup")
    assert dial.duration_seconds == 10 - 4


def test_record_stores_a_wav_and_posts_it_to_the_action(api, app, voice, tmp_path, settings):
    voice.route("https://tenant.example/recorded", "<Response/>")
    call_id = place(api, '<Response><Record maxLength="30" action="https://tenant.example/recorded"/></Response>')
    voice.run(call_id)
    recording = Recording.objects.get(call_id=call_id)
    assert (recording.source, recording.duration_seconds) == ("verb", 5)
    [params] = voice.posted("https://tenant.example/recorded")
    assert params["recording_id"] == recording.id and params["recording_duration"] == 5
    with recordings_storage().open(recording.storage_name, "rb") as handle, wave.open(io.BytesIO(handle.read())) as w:
        assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (1, 8000, 5 * 8000)
    assert Event.objects.filter(type="call.recording.completed", data__recording_id=recording.id).exists()


def test_record_true_records_the_whole_call(api, voice):
    call_id = place(api, '<Response><Pause length="12"/></Response>', record=True)
    voice.run(call_id)
    recording = Recording.objects.get(call_id=call_id)
    assert (recording.source, recording.duration_seconds) == ("call", 12)


def test_reject_ends_the_call(api, voice):
    call_id = place(api, "<Response><Reject/><Say>never</Say></Response>")
    voice.run(call_id)
    assert Call.objects.get(pk=call_id).hangup_cause == "rejected"
    assert voice.network.spoken == []


def test_a_live_call_hung_up_through_the_api_completes(api, app, voice, modify):
    call_id = place(api, '<Response><Pause length="600"/></Response>')

    async def hang_up_at_20s():
        await voice.clock.sleep(20)
        await modify(app.id, call_id, status="completed")

    voice.run(call_id, during=hang_up_at_20s)
    call, leg = Call.objects.get(pk=call_id), leg_a(call_id)
    assert (call.status, call.hangup_cause, leg.duration_seconds) == ("completed", "api_hangup", 16)


def test_a_ringing_call_hung_up_through_the_api_is_canceled(api, app, voice, modify):
    call_id = place(api, "<Response><Say>Hi</Say></Response>", to="+15005550002")

    async def hang_up_while_ringing():
        await voice.clock.sleep(2)
        await modify(app.id, call_id, status="canceled")

    voice.run(call_id, during=hang_up_while_ringing)
    call, leg = Call.objects.get(pk=call_id), leg_a(call_id)
    assert (call.status, leg.status, leg.sip_code) == ("canceled", "canceled", 487)


def test_a_live_call_redirected_through_the_api_runs_the_new_document(api, app, voice, modify):
    call_id = place(api, '<Response><Pause length="600"/></Response>')

    async def redirect_at_10s():
        await voice.clock.sleep(10)
        await modify(app.id, call_id, instructions="<Response><Say>New plan</Say></Response>")

    voice.run(call_id, during=redirect_at_10s)
    assert [text for _, text in voice.network.spoken] == ["New plan"]
    assert leg_a(call_id).duration_seconds == 10 - 4 + 1


def test_an_engine_failure_ends_the_call_as_failed_instead_of_leaving_it_live(api, voice, monkeypatch):
    async def broken_say(*args, **kwargs):
        raise RuntimeError("text to speech is down")

    monkeypatch.setattr(voice.network, "say", broken_say)
    call_id = place(api, "<Response><Say>Hi</Say></Response>")
    assert voice.run(call_id) == ["failed"]
    call = Call.objects.get(pk=call_id)
    assert (call.status, call.error_code, call.hangup_cause) == ("failed", "internal_error", "internal_error")
    assert "text to speech is down" in call.error_message
    assert leg_a(call_id).status == "failed"


def test_a_test_mode_calls_events_are_test_mode_events(api, app, voice):
    """A sandbox call's events reach test-mode endpoints only (webhooks decision 0106)."""
    call_id = place(api, '<Response><Record maxLength="2"/><Dial callerId="+12025550100">+12025550111</Dial>'
                         '</Response>')
    voice.run(call_id)
    events = Event.objects.filter(data__call_id=call_id)
    expected = {"call.completed", "call.leg.completed", "call.recording.completed", "call.error"}
    assert expected <= {e.type for e in events}
    assert {e.livemode for e in events} == {False}
