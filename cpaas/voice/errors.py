"""Error codes of the voice room (registered into the one registry at startup)."""

from cpaas.core.errors import register_codes

register_codes({
    "invalid_phone_number": (400, "invalid_request_error", False),
    "caller_id_not_owned": (400, "invalid_request_error", False),
    "invalid_instructions": (400, "invalid_request_error", False),
    "call_not_in_progress": (409, "invalid_request_error", False),
    "no_route": (400, "invalid_request_error", False),
})
