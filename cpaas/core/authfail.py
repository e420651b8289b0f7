"""Failed authentications, counted per client address, for every credential a client presents.

API keys (cpaas/core/auth.py, decision 0843) and IM connection tokens (the gateway, decision
0891) share one counter per address: ``cpaas:authfail:<address>`` in Redis, a fixed window of
``AUTH_FAILURE_WINDOW_SECONDS``, blocked at ``AUTH_FAILURES_PER_WINDOW``. Ask :func:`throttled`
before a database lookup of an unknown credential; call :func:`failed` after a failure only, so a
valid credential never writes anything.
"""

from __future__ import annotations

from django.conf import settings

from cpaas.core.errors import RateLimited
from cpaas.core.ratelimit import AuthThrottle, gate


def throttled(address: str) -> AuthThrottle:
    """Whether ``address`` failed too often in the window (and for how long it must wait)."""
    return gate().auth_throttle(address, settings.AUTH_FAILURES_PER_WINDOW)


def failed(address: str) -> None:
    """Count one failed authentication against ``address``."""
    gate().auth_failed(address, settings.AUTH_FAILURES_PER_WINDOW, settings.AUTH_FAILURE_WINDOW_SECONDS)


def refusal(retry_after: int) -> RateLimited:
    """The 429 a blocked address gets, from the API and the IM gateway alike."""
    return RateLimited("Too many failed authentications from this address. "
                       "Retry after the number of seconds in `Retry-After`.",
                       headers={"Retry-After": str(retry_after)})
