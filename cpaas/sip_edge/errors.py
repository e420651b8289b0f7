"""Error codes of the SIP edge room (registered into the one registry at startup)."""

from cpaas.core.errors import register_codes

CODES = {
    "sip_username_taken": (409, "invalid_request_error", False),
    "invalid_sip_username": (400, "invalid_request_error", False),
    "weak_sip_password": (400, "invalid_request_error", False),
    "too_many_sip_endpoints": (409, "invalid_request_error", False),
}
register_codes(CODES)
