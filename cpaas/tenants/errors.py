"""Error codes of the tenants room (keys and their limits, the team), registered into the one registry."""

from cpaas.core.errors import register_codes

CODES = {
    "operator_only": (403, "permission_error", False),
    "too_many_keys": (409, "invalid_request_error", False),
    "too_many_apps": (409, "invalid_request_error", False),
    "insufficient_role": (403, "permission_error", False),
    "already_member": (409, "invalid_request_error", False),
    "last_owner": (409, "invalid_request_error", False),
    "invitation_accepted": (409, "invalid_request_error", False),
    "too_many_invitations": (409, "invalid_request_error", False),
    "tenant_suspended": (403, "permission_error", False),
}

register_codes(CODES)
