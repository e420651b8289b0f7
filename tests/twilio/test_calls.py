"""Calls through the official ``twilio`` SDK against a live server, played out by the engine on
the sandbox network: TwiML inline and fetched (signed with X-Twilio-Signature, verified by the
SDK's RequestValidator at a real loopback receiver), a Gather with digits, hang-up through an
update, Twilio's error codes, another tenant's SIDs."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from asgiref.sync import sync_to_async
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from cpaas.twilio.sids import account_sid, object_id
from cpaas.twilio.sids import sid as sid_of
from cpaas.voice.engine import APOLOGY
from cpaas.voice.models import Call, Recording
from tests.twilio.conftest import sdk_client
from webhooks.models import Event

pytestmark = pytest.mark.django_db(transaction=True)
FROM = "+15005559000"  # the sandbox caller-id range: a test key owns it
TO = "+12025550123"  # answers after 1 s of setup and 3 s of ringing, stays on the line
PRESSES_123 = "+15005552123"  # answers and presses 1, 2, 3, # at every Gather


def error_of(call) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as caught:
        call()
    return caught.value


def form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode(), keep_blank_values=True))


def assert_signed(secret: str, url: str, headers: dict[str, str], body: bytes) -> None:
    assert RequestValidator(secret).validate(url, form(body), headers["x-twilio-signature"])
    assert not RequestValidator("whsec_not-the-secret").validate(url, form(body), headers["x-twilio-signature"])


def test_a_call_with_twiml_plays_it_and_an_update_to_completed_hangs_it_up(twilio, voice, sid):
    call = twilio.calls.create(to=TO, from_=FROM, twiml='<Response><Say voice="alice">Hello</Say>'
                                                         '<Pause length="600"/></Response>')
    assert (call.sid[:2], call.account_sid, call.status, call.to, call._from) == ("CA", sid, "queued", TO, FROM)
    assert call.uri == f"/2010-04-01/Accounts/{sid}/Calls/{call.sid}.json"
    call_id = object_id(call.sid, "CA")

    async def hang_up_at_20s():
        await voice.clock.sleep(20)
        with voice.clock.busy():
            await sync_to_async(lambda: twilio.calls(call.sid).update(status="completed"),
                                thread_sensitive=False)()

    voice.run(call_id, during=hang_up_at_20s)
    stored = Call.objects.get(pk=call_id)
    assert (stored.status, stored.hangup_cause, stored.dialect) == ("completed", "api_hangup", "twilio")
    assert [text for _, text in voice.network.spoken] == ["Hello"]
    fetched = twilio.calls(call.sid).fetch()
    assert (fetched.status, fetched.duration) == ("completed", str(stored.duration_seconds))
    assert fetched.start_time == stored.answered_at and fetched.end_time == stored.ended_at
    assert [c.sid for c in twilio.calls.list(status="completed")] == [call.sid]
    assert twilio.calls.list(status="in-progress") == []


def test_a_queued_call_updated_to_canceled_never_rings(twilio, voice):
    call = twilio.calls.create(to=TO, from_=FROM, twiml="<Response><Say>Hi</Say></Response>")
    assert twilio.calls(call.sid).update(status="canceled").status == "canceled"
    assert voice.run(object_id(call.sid, "CA")) == [None]


def test_twiml_fetched_from_a_url_is_signed_and_a_gather_posts_the_digits(twilio, voice, receiver, allow_loopback,
                                                                          signing_secret, sid):
    receiver.bodies["/voice"] = (b'<?xml version="1.0" encoding="UTF-8"?><Response>'
                                 b'<Gather input="dtmf" numDigits="3" action="/gathered" method="POST">'
                                 b'<Say>Enter your code</Say></Gather><Say>We got nothing</Say></Response>')
    receiver.bodies["/gathered"] = b"<Response><Say>Thanks</Say><Hangup/></Response>"
    call = twilio.calls.create(to=PRESSES_123, from_=FROM, url=f"{receiver.base}/voice", method="POST")
    assert voice.run(object_id(call.sid, "CA")) == ["completed"]
    assert [path for path, _, _ in receiver.received] == ["/voice", "/gathered"]
    assert [text for _, text in voice.network.spoken] == ["Enter your code", "Thanks"]
    (first_headers, first), (headers, gathered) = receiver.posted("/voice")[0], receiver.posted("/gathered")[0]
    assert_signed(signing_secret, f"{receiver.base}/voice", first_headers, first)
    assert_signed(signing_secret, f"{receiver.base}/gathered", headers, gathered)
    assert headers["content-type"].startswith("application/x-www-form-urlencoded")
    params = form(gathered)
    assert params == {"CallSid": call.sid, "AccountSid": sid, "From": FROM, "To": PRESSES_123, "Caller": FROM,
                      "Called": PRESSES_123, "CallStatus": "in-progress", "Direction": "outbound-api",
                      "ApiVersion": "2010-04-01", "Digits": "123"}
    assert "Digits" not in form(first)


def test_a_dial_posts_its_outcome_to_its_action(twilio, voice, receiver, allow_loopback, signing_secret):
    receiver.bodies["/voice"] = (b'<Response><Dial callerId="+15005559001" timeout="20" action="/dialed" '
                                 b'record="do-not-record"><Number sendDigits="1">+15005550001</Number>'
                                 b"</Dial></Response>")
    receiver.bodies["/dialed"] = b"<Response><Hangup/></Response>"
    call = twilio.calls.create(to=TO, from_=FROM, url=f"{receiver.base}/voice")
    voice.run(object_id(call.sid, "CA"))
    headers, body = receiver.posted("/dialed")[0]
    assert_signed(signing_secret, f"{receiver.base}/dialed", headers, body)
    assert (form(body)["DialCallStatus"], form(body)["DialCallDuration"]) == ("busy", "0")


def test_a_record_posts_the_recording_to_its_action(twilio, voice, receiver, allow_loopback, signing_secret,
                                                    settings):
    settings.PUBLIC_BASE_URL = "https://cpaas.example"
    receiver.bodies["/voice"] = (b'<Response><Record maxLength="30" playBeep="false" transcribe="true" '
                                 b'action="/rec"/></Response>')
    receiver.bodies["/rec"] = b"<Response><Hangup/></Response>"
    call = twilio.calls.create(to=TO, from_=FROM, url=f"{receiver.base}/voice")
    voice.run(object_id(call.sid, "CA"))
    recording = Recording.objects.get(call_id=object_id(call.sid, "CA"))
    headers, body = receiver.posted("/rec")[0]
    assert_signed(signing_secret, f"{receiver.base}/rec", headers, body)
    params = form(body)
    assert params["RecordingSid"] == sid_of(recording.id) and params["RecordingSid"].startswith("RE")
    assert params["RecordingUrl"] == f"https://cpaas.example/v1/recordings/{recording.id}/audio"
    assert params["RecordingDuration"] == str(recording.duration_seconds)


def test_invalid_twiml_from_the_url_is_a_call_error_and_an_apology_as_on_twilio(twilio, voice, receiver,
                                                                                allow_loopback):
    receiver.bodies["/voice"] = b"<Response><Enqueue>support</Enqueue></Response>"
    call = twilio.calls.create(to=TO, from_=FROM, url=f"{receiver.base}/voice")
    assert voice.run(object_id(call.sid, "CA")) == ["completed"]
    error = Event.objects.get(type="call.error").data
    assert error["code"] == "invalid_document" and "<Enqueue> is not supported" in error["message"]
    assert [text for _, text in voice.network.spoken] == [APOLOGY]


def test_a_redirect_through_an_update_runs_the_new_twiml(twilio, voice):
    call = twilio.calls.create(to=TO, from_=FROM, twiml='<Response><Pause length="600"/></Response>')

    async def redirect_at_10s():
        await voice.clock.sleep(10)
        with voice.clock.busy():
            await sync_to_async(lambda: twilio.calls(call.sid).update(twiml="<Response><Say>New plan</Say></Response>"),
                                thread_sensitive=False)()

    voice.run(object_id(call.sid, "CA"), during=redirect_at_10s)
    assert [text for _, text in voice.network.spoken] == ["New plan"]


@pytest.mark.parametrize(("fields", "status", "code"), [
    ({"to": "+1234", "from_": FROM, "twiml": "<Response/>"}, 400, 21211),
    ({"to": TO, "from_": "+12025550100", "twiml": "<Response/>"}, 400, 21210),
    ({"to": TO, "from_": FROM}, 400, 21205),
    ({"to": TO, "from_": FROM, "url": "http://10.1.2.3/voice"}, 400, 21205),
    ({"to": TO, "from_": FROM, "twiml": "<Response><Say>unclosed</Response>"}, 400, 12100),
    ({"to": TO, "from_": FROM, "twiml": '<Response><Gather input="speech"/></Response>'}, 400, 12100),
    ({"to": TO, "from_": FROM, "twiml": "<Response/>", "method": "GET", "url": None}, 400, 20001),
    ({"to": TO, "from_": FROM, "twiml": "<Response/>", "status_callback_event": ["bogus"]}, 400, 20001),
    ({"to": TO, "from_": FROM, "twiml": "<Response/>", "timeout": 1}, 400, 20001),
])
def test_bad_calls_get_twilio_s_code(twilio, fields, status, code):
    fields = {name: value for name, value in fields.items() if value is not None}
    error = error_of(lambda: twilio.calls.create(**fields))
    assert (error.status, error.code) == (status, code), error.msg
    assert Call.objects.count() == 0


def test_updating_a_finished_call_is_21220(twilio):
    call = twilio.calls.create(to=TO, from_=FROM, twiml="<Response/>")
    twilio.calls(call.sid).update(status="canceled")
    error = error_of(lambda: twilio.calls(call.sid).update(url="https://tenant.example/next"))
    assert (error.status, error.code) == (409, 21220)


def test_another_tenant_s_call_is_20404_and_unchanged(live_server, twilio, other_provisioned):
    theirs = sdk_client(live_server.url, account_sid(other_provisioned.app.id), other_provisioned.test_key.secret)
    call = theirs.calls.create(to=TO, from_=FROM, twiml="<Response/>")
    for action in (lambda: twilio.calls(call.sid).fetch(), lambda: twilio.calls(call.sid).update(status="completed")):
        error = error_of(action)
        assert (error.status, error.code) == (404, 20404)
    assert twilio.calls.list() == []
    assert Call.objects.get(pk=object_id(call.sid, "CA")).status == "queued"
