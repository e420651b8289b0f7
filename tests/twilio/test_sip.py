"""TwiML on a SIP trunk: the official ``twilio`` SDK with a live key creates a call whose TwiML
(with ``Url``: fetched, signed, from a loopback server; or inline with ``Twiml``) gathers digits;
the engine plays it out through a real Kamailio trunk to a baresip phone that answers and presses
1, 2, 3 (RFC 4733), and the Gather's action gets ``Digits=123`` in Twilio's form shape with a
valid X-Twilio-Signature.

The SIP parts are those of tests/voice/test_engine_sip.py (the far-end phone behind the trunk, the
engine run over the SIP connector). Skipped, with the reason, where baresip, kamailio, espeak-ng or
sox is missing (`make test` installs them).
"""

from __future__ import annotations

import asyncio
import shutil

import pytest

from cpaas.twilio.sids import object_id
from cpaas.voice import conf
from cpaas.voice.models import Call, CallLeg
from tests.support import kamailio, sipua
from tests.twilio.conftest import sdk_client
from tests.twilio.test_calls import assert_signed, form
from tests.voice.test_engine_sip import PHONE, in_thread, run

pytestmark = [
    pytest.mark.sip,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(bool(sipua.missing_binaries() + kamailio.missing_binaries())
                       or not (shutil.which("espeak-ng") and shutil.which("sox")),
                       reason="baresip, kamailio, espeak-ng or sox not installed (make test installs them)"),
]


@pytest.fixture
def live_twilio(live_server, sid, live_secret, monkeypatch):
    """The SDK with a live key of the app: live calls go out through the SIP trunk."""
    monkeypatch.setattr(conf, "VOICE_LIVE_CONNECTOR", "sip")
    return sdk_client(live_server.url, sid, live_secret)


@pytest.fixture
def live_signing_secret(live_api) -> str:
    """The app's live-mode voice signing secret, the key of X-Twilio-Signature for live calls."""
    response = live_api.post("/v1/voice/settings/rotate-signing-secret", format="json")
    assert response.status_code == 200, response.json()
    return response.json()["signing_secret"]


GATHER = ('<Gather numDigits="3" timeout="5" action="{action}"><Say>Enter your code</Say></Gather>'
          "<Say>We got nothing</Say>")


@pytest.mark.parametrize("source", ["url", "twiml"])
def test_a_twiml_gather_gets_the_phone_s_digits_over_sip(live_twilio, live_number, live_signing_secret, voice, far,
                                                         receiver, allow_loopback, sid, source):
    receiver.bodies["/gathered"] = b"<Response><Say>Thanks</Say></Response>"
    if source == "url":  # the document fetched (and signed) from the tenant's server, a relative action
        receiver.bodies["/voice"] = ('<?xml version="1.0" encoding="UTF-8"?><Response>'
                                     + GATHER.format(action="/gathered") + "</Response>").encode()
        document = {"url": f"{receiver.base}/voice"}
    else:  # inline TwiML, an absolute action
        document = {"twiml": "<Response>" + GATHER.format(action=f"{receiver.base}/gathered") + "</Response>"}
    call = live_twilio.calls.create(to=PHONE, from_=live_number.number, **document)
    assert call.status == "queued"
    call_id = object_id(call.sid, "CA")

    async def phone_presses():
        await in_thread(far.ua.wait_event, "CALL_ESTABLISHED")
        await asyncio.sleep(1.0)
        await in_thread(far.ua.send_dtmf, "123")

    assert run(voice, far.connector(), call_id, during=phone_presses)[0] == "completed"

    fetched_paths = ["/voice", "/gathered"] if source == "url" else ["/gathered"]
    assert [path for path, _, _ in receiver.received] == fetched_paths
    if source == "url":
        first_headers, first = receiver.posted("/voice")[0]
        assert_signed(live_signing_secret, f"{receiver.base}/voice", first_headers, first)
        assert form(first)["CallStatus"] == "in-progress"
    headers, gathered = receiver.posted("/gathered")[0]
    assert_signed(live_signing_secret, f"{receiver.base}/gathered", headers, gathered)
    fields = form(gathered)
    assert (fields["Digits"], fields["CallSid"], fields["AccountSid"]) == ("123", call.sid, sid)
    assert (fields["From"], fields["To"], fields["CallStatus"], fields["Direction"]) == (
        live_number.number, PHONE, "in-progress", "outbound-api")

    stored, leg = Call.objects.get(pk=call_id), CallLeg.objects.get(call_id=call_id, role="a")
    assert (stored.mode, stored.dialect, stored.hangup_cause) == ("live", "twilio", "document_end")
    assert (leg.status, leg.sip_code) == ("completed", 200)
    far.ua.wait_event("CALL_CLOSED")  # our BYE reached the phone
    fetched = live_twilio.calls(call.sid).fetch()
    assert (fetched.status, fetched.direction, fetched.to, fetched._from) == (
        "completed", "outbound-api", PHONE, live_number.number)
    assert int(fetched.duration) >= 1
