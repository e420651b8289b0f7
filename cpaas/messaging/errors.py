"""Error codes of the SMS room (registered into the one registry at app start)."""

from cpaas.core.errors import register_codes

CODES = {
    "invalid_phone_number": (400, "invalid_request_error", False),
    "sender_not_owned": (400, "invalid_request_error", False),
    "sender_pool_empty": (400, "invalid_request_error", False),
    "body_required": (400, "invalid_request_error", False),
    "body_too_long": (400, "invalid_request_error", False),
    "geo_not_permitted": (403, "permission_error", False),
    "recipient_opted_out": (400, "invalid_request_error", False),
    "invalid_send_at": (400, "invalid_request_error", False),
    "batch_too_large": (400, "invalid_request_error", False),
    "daily_cap_reached": (429, "rate_limit_error", True),
    "suspected_fraud": (403, "permission_error", False),
    "message_not_cancelable": (409, "invalid_request_error", False),
    "message_not_deletable": (409, "invalid_request_error", False),
    "number_unavailable": (409, "invalid_request_error", False),
    "too_many_numbers": (409, "invalid_request_error", False),
    "no_route": (400, "invalid_request_error", False),
}

register_codes(CODES)
