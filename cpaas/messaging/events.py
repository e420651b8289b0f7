"""Webhook event types the SMS room publishes (discovered by the webhooks catalog)."""

_MESSAGE = {
    "type": "object",
    "required": ["id", "status", "sequence", "to", "from"],
    "properties": {
        "id": {"type": "string", "description": "msg_… id"},
        "status": {"type": "string"},
        "sequence": {"type": "integer",
                     "description": "Grows by one on every status change: order callbacks by it."},
        "direction": {"type": "string", "enum": ["outbound", "inbound"]},
        "to": {"type": "string"},
        "from": {"type": "string"},
        "body": {"type": "string"},
        "segments": {"type": "integer"},
        "encoding": {"type": "string"},
        "country": {"type": "string"},
        "reference": {"type": ["string", "null"]},
        "error_code": {"type": ["string", "null"]},
        "error_message": {"type": ["string", "null"]},
        "timestamp": {"type": "string", "format": "date-time"},
    },
}

EVENT_TYPES = [
    {"type": f"message.{status}", "version": 1, "description": description, "schema": _MESSAGE}
    for status, description in (
        ("queued", "A scheduled message reached its send time and was queued."),
        ("sent", "The carrier accepted the message."),
        ("delivered", "The carrier reported delivery to the handset."),
        ("undelivered", "The carrier reported the message could not be delivered."),
        ("failed", "The message could not be submitted to any carrier; see error_code."),
        ("canceled", "A scheduled or queued message was canceled before sending."),
        ("received", "A message arrived on one of the app's numbers."),
    )
]
