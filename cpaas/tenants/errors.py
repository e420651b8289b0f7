"""Error codes of the tenants room (keys and their limits), registered into the one registry."""

from cpaas.core.errors import register_codes

CODES = {
    "operator_only": (403, "permission_error", False),
    "too_many_keys": (409, "invalid_request_error", False),
    "too_many_apps": (409, "invalid_request_error", False),
}

register_codes(CODES)
