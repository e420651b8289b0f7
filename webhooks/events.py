"""Event types the webhooks room itself publishes (operational events and the test ping)."""

_ENDPOINT_REF = {
    "type": "object",
    "required": ["endpoint_id", "url"],
    "properties": {
        "endpoint_id": {"type": "string"},
        "url": {"type": "string"},
    },
}

_ATTEMPT = {
    "type": "object",
    "required": ["endpoint_id", "url", "delivery_id", "event_id", "event_type", "attempts"],
    "properties": {
        "endpoint_id": {"type": "string"},
        "url": {"type": "string"},
        "delivery_id": {"type": "string"},
        "event_id": {"type": "string"},
        "event_type": {"type": "string"},
        "attempts": {"type": "integer"},
        "last_status_code": {"type": ["integer", "null"]},
        "last_error": {"type": "string"},
    },
}

EVENT_TYPES = [
    {
        "type": "ping",
        "version": 1,
        "description": "A test event sent by POST /v1/webhook-endpoints/{id}/test; only to that endpoint.",
        "schema": {
            "type": "object",
            "required": ["endpoint_id", "message"],
            "properties": {"endpoint_id": {"type": "string"}, "message": {"type": "string"}},
        },
    },
    {
        "type": "webhook_endpoint.disabled",
        "version": 1,
        "description": "An endpoint was disabled: it kept failing for 5 days, or answered 410 Gone.",
        "schema": {
            **_ENDPOINT_REF,
            "properties": {
                **_ENDPOINT_REF["properties"],
                "reason": {"type": "string", "enum": ["failing", "gone"]},
                "failing_since": {"type": ["string", "null"], "format": "date-time"},
            },
        },
    },
    {
        "type": "webhook.attempt.failing",
        "version": 1,
        "description": "A delivery failed its 4th attempt; it keeps being retried.",
        "schema": _ATTEMPT,
    },
    {
        "type": "webhook.attempt.exhausted",
        "version": 1,
        "description": "A delivery failed every attempt of the retry schedule and will not be retried.",
        "schema": _ATTEMPT,
    },
    {
        "type": "webhook.attempt.recovered",
        "version": 1,
        "description": "An endpoint that had failing deliveries accepted one again.",
        "schema": _ATTEMPT,
    },
]
