"""Our messages and calls in Twilio's JSON shapes (the fields the official SDKs read)."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime

from cpaas.messaging.models import Message
from cpaas.messaging.states import TIMESTAMP
from cpaas.tenants.models import App
from cpaas.twilio.sids import account_sid, sid
from cpaas.voice.models import Call

API_VERSION = "2010-04-01"


def rfc2822(value: datetime | None) -> str | None:
    """``Sat, 05 Dec 2026 22:11:09 +0000``, as Twilio writes dates."""
    return format_datetime(value) if value is not None else None


def account_uri(app_id: str) -> str:
    return f"/{API_VERSION}/Accounts/{account_sid(app_id)}"


def account_json(app: App, *, mode: str) -> dict:
    """The app as Twilio's Account: one per app (its SID from the app's id); a test key sees the
    app as a Trial account, a live key as a Full one. No auth token: keys are shown once."""
    uri = account_uri(app.id)
    return {
        "sid": account_sid(app.id),
        "owner_account_sid": account_sid(app.id),
        "friendly_name": app.name,
        "status": "active",  # a suspended tenant's keys never get this far (403 tenant_suspended)
        "type": "Trial" if mode == "test" else "Full",
        "auth_token": None,
        "date_created": rfc2822(app.created_at),
        "date_updated": rfc2822(app.created_at),
        "uri": f"{uri}.json",
        "subresource_uris": {"messages": f"{uri}/Messages.json", "calls": f"{uri}/Calls.json"},
    }


def _price(value) -> str | None:
    """Twilio writes a charge as a negative decimal string."""
    return None if value is None else f"-{value.normalize():f}" if value else "0"


# Our message error codes (sandbox and carriers) as the 30xxx codes Twilio reports for them.
MESSAGE_ERRORS = {"unreachable": 30003, "invalid_destination": 30005, "expired": 30001,
                  "carrier_rejected": 30007, "blocked": 30007}


def message_error_code(message: Message) -> int | None:
    code = message.error_code
    if not code:
        return None
    return int(code) if code.isdigit() else MESSAGE_ERRORS.get(code, 30008)


def message_json(message: Message) -> dict:
    moments = [value for column in TIMESTAMP.values() if (value := getattr(message, column, None))]
    uri = f"{account_uri(message.app_id)}/Messages/{sid(message.id)}"
    return {
        "sid": sid(message.id),
        "account_sid": account_sid(message.app_id),
        "api_version": API_VERSION,
        "messaging_service_sid": sid(message.sender_pool) if message.sender_pool else None,
        "to": message.to,
        "from": message.sender,
        "body": message.body,
        "status": message.status,  # our statuses are Twilio's names (docs/twilio-compatibility.md)
        "direction": "outbound-api" if message.direction == "outbound" else "inbound",
        "num_segments": str(message.segments),
        "num_media": "0",
        "price": _price(message.price),
        "price_unit": message.currency or "USD",
        "error_code": message_error_code(message),
        "error_message": message.error_message or None,
        "date_created": rfc2822(message.created_at),
        "date_updated": rfc2822(max(moments) if moments else message.created_at),
        "date_sent": rfc2822(message.sent_at or message.received_at),
        "uri": f"{uri}.json",
        "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
    }


#: Our call statuses in a Call resource: Twilio's resource has no ``initiated``.
CALL_STATUS = {"initiated": "queued"}


def call_json(call: Call) -> dict:
    uri = f"{account_uri(call.app_id)}/Calls/{sid(call.id)}"
    return {
        "sid": sid(call.id),
        "account_sid": account_sid(call.app_id),
        "api_version": API_VERSION,
        "parent_call_sid": None,
        "to": call.to,
        "to_formatted": call.to,
        "from": call.from_number,
        "from_formatted": call.from_number,
        "phone_number_sid": None,
        "status": CALL_STATUS.get(call.status, call.status),
        "direction": "outbound-api" if call.direction == "outbound" else call.direction,
        "start_time": rfc2822(call.answered_at),
        "end_time": rfc2822(call.ended_at),
        "duration": str(call.duration_seconds) if call.ended_at else None,
        "price": None,
        "price_unit": "USD",
        "answered_by": None,
        "forwarded_from": None,
        "caller_name": None,
        "group_sid": None,
        "queue_time": "0",
        "trunk_sid": None,
        "annotation": None,
        "date_created": rfc2822(call.created_at),
        "date_updated": rfc2822(call.updated_at),
        "uri": f"{uri}.json",
        "subresource_uris": {"recordings": f"{uri}/Recordings.json", "notifications": f"{uri}/Notifications.json"},
    }
