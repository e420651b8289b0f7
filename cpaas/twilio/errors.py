"""Our errors in Twilio's shape: ``{"code", "message", "more_info", "status"}``.

Each of our codes (docs/errors.md) maps to the number Twilio uses for the same problem, some by
the offending parameter (an invalid ``to`` is 21211, an invalid ``from`` 21212). Our own envelope
rides along in ``details`` (code, param, request id), which the official SDK exposes as
``TwilioRestException.details``. A code without a Twilio twin gets 20001 ("invalid parameter")
for a 4xx and 20500 for a 5xx; never an HTML page, never an unhandled 500 (decision 1224).
"""

from __future__ import annotations

import logging

from rest_framework.response import Response

from cpaas.core.errors import ApiError, to_api_error

log = logging.getLogger(__name__)

#: (our code, param or None for any) -> Twilio code, looked up with the param first.
CODES: dict[tuple[str, str | None], int] = {
    ("authentication_failed", None): 20003,
    ("permission_denied", None): 20003,
    ("live_key_required", None): 20003,
    ("tenant_suspended", None): 10001,  # Twilio's "Account is not active"
    ("not_found", None): 20404,
    ("method_not_allowed", None): 20004,
    ("rate_limited", None): 20429,
    ("daily_cap_reached", None): 20429,
    ("internal_error", None): 20500,
    ("service_unavailable", None): 20503,
    ("invalid_phone_number", "To"): 21211,
    ("invalid_phone_number", "From"): 21212,
    ("invalid_phone_number", None): 21211,
    ("invalid_request", "To"): 21604,
    ("invalid_request", "From"): 21603,
    ("invalid_request", "Body"): 21602,
    ("invalid_request", "Url"): 21205,
    ("invalid_request", "StatusCallback"): 21609,
    ("url_not_allowed", "Url"): 21205,
    ("url_not_allowed", "StatusCallback"): 21609,
    ("sender_not_owned", None): 21606,
    ("caller_id_not_owned", None): 21210,
    ("body_required", None): 21602,
    ("body_too_long", None): 21617,
    ("recipient_opted_out", None): 21610,
    ("geo_not_permitted", None): 21408,
    ("no_route", None): 21612,
    ("message_not_cancelable", None): 30409,
    ("message_not_deletable", None): 20009,
    ("call_not_in_progress", None): 21220,
    ("invalid_instructions", None): 12100,
    ("insufficient_funds", None): 20005,
    ("spend_cap_exceeded", None): 20005,
}

#: Our parameter names as Twilio's (errors name the parameter the caller sent).
PARAMS = {"to": "To", "from": "From", "body": "Body", "status_callback": "StatusCallback",
          "sender_pool": "MessagingServiceSid", "url": "Url", "instructions": "Twiml", "status": "Status",
          "timeout": "Timeout", "time_limit": "TimeLimit", "send_at": "SendAt",
          "validity_period": "ValidityPeriod", "smart_encoding": "SmartEncoded"}


def twilio_code(error: ApiError, param: str | None) -> int:
    code = CODES.get((error.code, param)) or CODES.get((error.code, None))
    if code is not None:
        return code
    if error.status == 404:
        return 20404
    return 20500 if error.status >= 500 else 20001


def body(error: ApiError) -> dict:
    param = PARAMS.get(error.param or "", error.param)
    code = twilio_code(error, param)
    envelope = error.body()["error"]
    message = error.message
    if error.code == "authentication_failed":
        message = "Authenticate: HTTP Basic with your Account SID (GET /v1/me) and an API key of its app."
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": error.status,
            "details": {"cpaas_code": error.code, "param": param, "request_id": envelope["request_id"]}}


def exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's handler for the Twilio views: every failure leaves in Twilio's shape."""
    error = to_api_error(exc)
    if error is None:
        log.exception("unhandled error in a Twilio-compatible view", exc_info=exc)
        error = ApiError(code="internal_error")
    response = Response(body(error), status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response
