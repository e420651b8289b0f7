"""Error codes of the RTC room (registered into the one registry at startup)."""

from cpaas.core.errors import register_codes

CODES = {
    "rtc_unavailable": (503, "api_error", True),
    "rtc_kind_unsupported": (400, "invalid_request_error", False),
    "rtc_room_closed": (409, "invalid_request_error", False),
    "room_full": (409, "invalid_request_error", True),
    "rtc_token_invalid": (401, "authentication_error", False),
    "rtc_token_expired": (401, "authentication_error", False),
    "rtc_token_revoked": (401, "authentication_error", False),
    "rtc_privilege_missing": (403, "permission_error", False),
    "rtc_participant_left": (409, "invalid_request_error", False),
}
register_codes(CODES)
