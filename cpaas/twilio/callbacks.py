"""What the platform posts to a tenant on the Twilio surface, in Twilio's form shape.

- Call-control fetches (the voice engine asks ``fetch_request`` through voice/dialects.py): the
  parameters Twilio sends (``CallSid``, ``AccountSid``, ``From``, ``To``, ``CallStatus``,
  ``Direction``, ``Digits``, ``RecordingUrl``, ``DialCallStatus``…).
- Status callbacks of messages and calls: rows of the durable callback outbox (webhooks/callbacks.py)
  on the ``twilio.*`` channels, whose shape renders the form body once (stored, so every retry
  is byte-identical) and signs each attempt with ``X-Twilio-Signature``; ``I-Twilio-Idempotency-
  Token`` carries the row id, as Twilio's own header does, for de-duplicating retries.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from django.conf import settings

from cpaas.twilio import signature
from cpaas.twilio.resources import API_VERSION, MESSAGE_ERRORS, rfc2822
from cpaas.twilio.sids import account_sid, sid
from cpaas.voice import states
from webhooks.callback_models import Callback
from webhooks.callbacks import NewCallback


def _call_params(call_id: str, app_id: str, from_: str, to: str, status: str) -> dict[str, str]:
    return {"CallSid": sid(call_id), "AccountSid": account_sid(app_id), "From": from_, "To": to,
            "Caller": from_, "Called": to, "CallStatus": status, "Direction": "outbound-api",
            "ApiVersion": API_VERSION}


def recording_url(recording_id: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}/v1/recordings/{recording_id}/audio"


def fetch_params(call: Any, native: dict[str, Any]) -> dict[str, str]:
    """The engine's native fetch parameters as Twilio's."""
    out = _call_params(call.id, call.app_id, call.from_number, call.to, native.get("call_status", "in-progress"))
    if "digits" in native:
        out["Digits"] = native["digits"]
    if "recording_id" in native:
        out.update(RecordingSid=sid(native["recording_id"]), RecordingUrl=recording_url(native["recording_id"]),
                   RecordingDuration=str(native.get("recording_duration", 0)))
    if "dial_call_status" in native:
        out.update(DialCallStatus=native["dial_call_status"], DialCallDuration=str(native.get("dial_call_duration", 0)))
    return out


def fetch_request(call: Any, url: str, native: dict[str, Any], secret: str) -> tuple[bytes, dict[str, str]]:
    """The signed form POST of a TwiML fetch (the ``twilio`` dialect's ``request``)."""
    body = signature.form_body(fetch_params(call, native))
    return body.encode(), signature.headers(secret, url, body)


def _sms_error(code: str | None) -> str | None:
    if not code:
        return None
    return code if code.isdigit() else str(MESSAGE_ERRORS.get(code, 30008))


def render(item: NewCallback, callback_id: str, now: datetime) -> str:
    """The form body of one status callback (``message.*`` or ``call.*`` event data)."""
    data = item.data
    if item.type.startswith("message."):
        params = {"MessageSid": sid(data["id"]), "SmsSid": sid(data["id"]), "AccountSid": account_sid(item.app_id),
                  "From": data["from"], "To": data["to"], "MessageStatus": data["status"],
                  "SmsStatus": data["status"], "ApiVersion": API_VERSION}
        error = _sms_error(data.get("error_code"))
        if error:
            params["ErrorCode"] = error
            params["ErrorMessage"] = data.get("error_message") or ""
        return signature.form_body(params)
    params = _call_params(data["call_id"], item.app_id, data["from"], data["to"], data["status"])
    params.update(CallbackSource="call-progress-events", Timestamp=rfc2822(now) or "",
                  SequenceNumber=str(states.STATUS_EVENTS.index(data["event"])))
    if data["event"] == "completed":
        params.update(CallDuration=str(data.get("duration") or 0),
                      Duration=str(math.ceil((data.get("duration") or 0) / 60)))
    return signature.form_body(params)


def headers(secrets: list[str], row: Callback) -> dict[str, str]:
    return signature.headers(secrets[0], row.url, row.body, idempotency_token=row.id)
