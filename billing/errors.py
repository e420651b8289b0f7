"""Billing's error codes (registered into the one registry at app start)."""

from cpaas.core.errors import register_codes

register_codes({
    "unknown_meter": (400, "invalid_request_error", False),
    "invalid_quantity": (400, "invalid_request_error", False),
    "invalid_tiers": (400, "invalid_request_error", False),
    "invalid_plan": (400, "invalid_request_error", False),
    "invalid_rate_deck": (400, "invalid_request_error", False),
    "usage_key_conflict": (409, "invalid_request_error", False),
    "invoice_finalized": (409, "invalid_request_error", False),
    "invalid_transition": (409, "invalid_request_error", False),
    "grace_period_open": (409, "invalid_request_error", False),
    "credit_exceeds_invoice": (400, "invalid_request_error", False),
    "insufficient_funds": (402, "billing_error", False),
    "spend_cap_exceeded": (402, "billing_error", False),
    "usage_not_voidable": (403, "permission_error", False),
})
