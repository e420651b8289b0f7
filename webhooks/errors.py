"""Error codes of the webhooks room (registered in the one registry by WebhooksConfig.ready)."""

from cpaas.core.errors import register_codes

register_codes({
    "invalid_webhook_url": (400, "invalid_request_error", False),
    "unknown_event_type": (400, "invalid_request_error", False),
    "endpoint_disabled": (409, "invalid_request_error", False),
    "too_many_endpoints": (409, "invalid_request_error", False),
})
