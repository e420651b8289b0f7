"""Error codes of the IM room (API responses and gateway error frames)."""

from cpaas.core.errors import register_codes

CODES = {
    "user_exists": (409, "invalid_request_error", False),
    "not_a_member": (403, "invalid_request_error", False),
    "message_too_large": (400, "invalid_request_error", False),
    "group_full": (409, "invalid_request_error", False),
    "user_banned": (403, "invalid_request_error", False),
    "member_muted": (403, "invalid_request_error", False),
    "message_blocked": (422, "invalid_request_error", False),
    "recall_window_passed": (409, "invalid_request_error", False),
    "conversation_dismissed": (409, "invalid_request_error", False),
    "unknown_frame": (400, "invalid_request_error", False),
}
register_codes(CODES)
