"""The one egress: every HTTP request to a tenant-supplied URL leaves through this package.

- ``ssrf.py``: the guard. Resolve, refuse if any address is non-public (loopback, private,
  link-local/metadata, shared, reserved, … in every spelling: decimal, octal, hex, IPv4-mapped,
  NAT64), unless the operator's allow-list (``conf.ALLOWED_CIDRS``, the one setting) covers it.
- ``client.py``: the async client (keep-alive pools) that connects only to checked addresses
  (pinned: no second lookup), never follows a redirect, caps the answer's head and body and
  bounds the time. Webhooks, callbacks and voice documents use it from their loops.
- ``sync.py``: the same client for callers without a loop (IM moderation hook, SMS callbacks).
- :func:`tenant_url`: the save-time check every API field holding a tenant URL goes through.

tests/core/test_egress_only.py fails if any other module opens an HTTP client of its own.
"""

from __future__ import annotations

from cpaas.core.egress.ssrf import BlockedAddress, NotAllowedUrl, UnsafeUrl, validate_url
from cpaas.core.errors import ApiError

__all__ = ["BlockedAddress", "NotAllowedUrl", "UnsafeUrl", "tenant_url", "validate_url"]


def tenant_url(url: str, *, param: str, live: bool = False, invalid_code: str = "invalid_request") -> str:
    """Check a tenant URL an API request wants to store or use; returns it normalised.

    A URL pointing at a refused address is 400 ``url_not_allowed`` (``param`` names the field);
    a malformed one is 400 ``invalid_code`` (rooms keep the code they documented for that).
    ``live``: https only.
    """
    try:
        return validate_url(url, live=live)
    except UnsafeUrl as exc:
        code = "url_not_allowed" if exc.blocked else invalid_code
        raise ApiError(f"`{param}` {exc}.", code=code, param=param) from None
