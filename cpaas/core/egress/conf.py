"""Settings of the egress (every request to a tenant-supplied URL), read here and nowhere else.

Read as module attributes at the moment of use (``conf.ALLOWED_CIDRS``), so tests can
monkeypatch them. Documented in docs/configuration.md and docs/security.md.
"""

from __future__ import annotations

from django.conf import settings

from cpaas.core.env import env


def _allowed_cidrs() -> list[str]:
    # The one allow-list of the SSRF guard. Unset: loopback only on a development server (DEBUG,
    # which `make run` turns on, so `cpaas listen --forward-to http://localhost:9000` works),
    # nothing otherwise; set, even empty, it replaces that default.
    return env.list("EGRESS_ALLOWED_CIDRS", "127.0.0.0/8,::1/128" if settings.DEBUG else "",
                    old="WEBHOOK_ALLOWED_CIDRS")


# Networks tenant URLs may reach despite the guard (e.g. "127.0.0.0/8" for local receivers).
ALLOWED_CIDRS: list[str] = _allowed_cidrs()

CONNECT_TIMEOUT = env.float("EGRESS_CONNECT_TIMEOUT", 5.0, old="WEBHOOK_CONNECT_TIMEOUT")
# Idle keep-alive connections are closed after this long: below the idle timeout of common
# servers (uvicorn and node: 5 s), so we never write to a connection the receiver is closing.
KEEPALIVE_SECONDS = env.float("EGRESS_KEEPALIVE_SECONDS", 4.0, old="WEBHOOK_KEEPALIVE_SECONDS")
# A response head (status line and headers) larger than this is a protocol error.
MAX_HEAD_BYTES = 64 * 1024
# Defaults of the synchronous facade (callers pass their own limits).
TIMEOUT = 10.0
MAX_BODY_BYTES = 64 * 1024
