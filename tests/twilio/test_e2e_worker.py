"""End to end: the official SDK → the Twilio-compatible API (live server) → a real Celery worker's
engine → sandbox network → TwiML fetched from a real local server with X-Twilio-Signature → Twilio
status callbacks from the worker's callback outbox. Nothing is mocked."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

import pytest
from twilio.request_validator import RequestValidator

from cpaas.twilio.sids import object_id
from tests.voice.test_e2e_worker import wait_final

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.worker
def test_a_gather_call_runs_through_a_worker_with_signed_twiml_and_twilio_callbacks(
        twilio, worker, receiver, allow_loopback, signing_secret, sid):
    receiver.bodies["/voice"] = (b'<Response><Gather numDigits="3" action="/menu">'
                                 b"<Say>Enter your code</Say></Gather></Response>")
    receiver.bodies["/menu"] = b"<Response><Say>Thank you</Say><Hangup/></Response>"
    call = twilio.calls.create(to="+15005552417", from_="+15005559000", url=f"{receiver.base}/voice",
                               status_callback=f"{receiver.base}/status",
                               status_callback_event=["initiated", "ringing", "answered", "completed"])
    wait_final([object_id(call.sid, "CA")])
    deadline = time.monotonic() + 30
    while len(receiver.posted("/status")) < 4:
        assert time.monotonic() < deadline, f"status callbacks: {receiver.posted('/status')}"
        time.sleep(0.2)
    validator = RequestValidator(signing_secret)
    for path in ("/voice", "/menu", "/status"):
        for headers, body in receiver.posted(path):
            params = dict(parse_qsl(body.decode()))
            assert validator.validate(f"{receiver.base}{path}", params, headers["x-twilio-signature"]), path
            assert (params["CallSid"], params["AccountSid"]) == (call.sid, sid)
    assert dict(parse_qsl(receiver.posted("/menu")[0][1].decode()))["Digits"] == "417"
    statuses = sorted((dict(parse_qsl(body.decode())) for _, body in receiver.posted("/status")),
                      key=lambda p: p["SequenceNumber"])
    assert [p["CallStatus"] for p in statuses] == ["initiated", "ringing", "in-progress", "completed"]
    assert twilio.calls(call.sid).fetch().status == "completed"
