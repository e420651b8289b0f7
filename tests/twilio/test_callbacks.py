"""Status callbacks of messages and calls sent through the Twilio-compatible API: Twilio's form
post, signed with X-Twilio-Signature (checked with the SDK's RequestValidator at a real loopback
receiver), rows of the durable callback outbox: retried byte for byte, never doubled."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from django.utils import timezone
from twilio.request_validator import RequestValidator

from cpaas.carriers.sandbox import connector as sandbox
from cpaas.messaging.dispatch import dispatch_batch
from cpaas.twilio.sids import object_id
from webhooks.callback_models import Callback
from webhooks.callbacks import callbacks_deliver

pytestmark = pytest.mark.django_db(transaction=True)
FROM = "+15005559000"
TO = "+12025550123"


def form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode(), keep_blank_values=True))


def verified(secret: str, url: str, posts) -> list[dict[str, str]]:
    out = []
    for headers, body in posts:
        assert RequestValidator(secret).validate(url, form(body), headers["x-twilio-signature"]), body
        assert headers["content-type"].startswith("application/x-www-form-urlencoded")
        assert "webhook-signature" not in headers
        out.append(form(body))
    return out


def test_message_status_callbacks_are_twilio_s_form_signed_and_retried_byte_for_byte(
        twilio, receiver, allow_loopback, signing_secret, sid):
    url = f"{receiver.base}/sms?tenant=1"
    receiver.answer("/sms?tenant=1", 500)
    message = twilio.messages.create(to=sandbox.NO_RECEIPT, from_="Acme", body="hi", status_callback=url)
    dispatch_batch()
    (row,) = Callback.objects.all()
    assert (row.channel, row.type) == ("twilio.sms.test", "message.sent")
    assert callbacks_deliver() == {"delivered": 0, "retrying": 1, "failed": 0}
    receiver.answer("/sms?tenant=1", 200)
    Callback.objects.update(next_attempt_at=timezone.now())
    assert callbacks_deliver() == {"delivered": 1, "retrying": 0, "failed": 0}
    (first_headers, first), (headers, body) = receiver.posted("/sms?tenant=1")
    token = "i-twilio-idempotency-token"
    assert first == body and first_headers[token] == headers[token] == row.id
    (params, _) = verified(signing_secret, url, [(headers, body), (first_headers, first)])
    assert params == {"MessageSid": message.sid, "SmsSid": message.sid, "AccountSid": sid, "From": "Acme",
                      "To": sandbox.NO_RECEIPT, "MessageStatus": "sent", "SmsStatus": "sent",
                      "ApiVersion": "2010-04-01"}
    assert callbacks_deliver() == {"delivered": 0, "retrying": 0, "failed": 0}


def test_a_failed_message_s_callback_carries_a_twilio_error_code(twilio, receiver, allow_loopback, signing_secret):
    url = f"{receiver.base}/sms"
    twilio.messages.create(to=sandbox.FAILED_AT_SUBMIT, from_="Acme", body="hi", status_callback=url)
    dispatch_batch()
    callbacks_deliver()
    statuses = verified(signing_secret, url, receiver.posted("/sms"))
    assert statuses[-1]["MessageStatus"] == "failed" and statuses[-1]["ErrorCode"] == "30005"


def test_a_message_sent_with_our_own_api_still_gets_standard_webhooks(api, receiver, allow_loopback):
    api.post("/v1/messages", {"to": sandbox.NO_RECEIPT, "from": "Acme", "body": "x",
                              "status_callback": f"{receiver.base}/own"}, format="json")
    dispatch_batch()
    callbacks_deliver()
    ((headers, _),) = receiver.posted("/own")
    assert "webhook-signature" in headers and "x-twilio-signature" not in headers


def test_call_status_callbacks_follow_status_callback_event(twilio, voice, receiver, allow_loopback,
                                                            signing_secret, sid):
    url = f"{receiver.base}/status"
    call = twilio.calls.create(to=TO, from_=FROM, twiml='<Response><Pause length="5"/></Response>',
                               status_callback=url, status_callback_event=["initiated", "answered", "completed"],
                               status_callback_method="POST")
    voice.run(object_id(call.sid, "CA"))
    assert callbacks_deliver()["delivered"] == 3
    # Sent concurrently: receivers order them by SequenceNumber, as with Twilio.
    posts = sorted(verified(signing_secret, url, receiver.posted("/status")), key=lambda p: p["SequenceNumber"])
    assert [p["CallStatus"] for p in posts] == ["initiated", "in-progress", "completed"]
    assert [p["SequenceNumber"] for p in posts] == ["0", "2", "3"]
    assert {(p["CallSid"], p["AccountSid"], p["From"], p["To"], p["Direction"]) for p in posts} == {
        (call.sid, sid, FROM, TO, "outbound-api")}
    assert (posts[-1]["CallDuration"], posts[-1]["Duration"]) == ("5", "1")


def test_a_status_callback_without_events_hears_only_completed_as_on_twilio(twilio, voice, receiver,
                                                                          allow_loopback, signing_secret):
    url = f"{receiver.base}/status"
    call = twilio.calls.create(to=TO, from_=FROM, twiml="<Response><Say>Hi</Say></Response>", status_callback=url)
    voice.run(object_id(call.sid, "CA"))
    callbacks_deliver()
    assert [p["CallStatus"] for p in verified(signing_secret, url, receiver.posted("/status"))] == ["completed"]
