"""Tenant URLs (call-control documents) are reached only through the webhooks room's SSRF guard.

There is one guard in the platform, ``webhooks/ssrf.py``: every address a host resolves to must
be public (or on the operator's allow-list, ``WEBHOOK_ALLOWED_CIDRS``), and the connection goes
to that checked address, pinned, with the Host header and TLS SNI kept; a DNS answer that changes
between check and connect (rebinding) finds no second lookup to slip into. Redirects are never
followed. A refused address surfaces as :class:`UrlNotAllowed` when the engine connects.

Connections are pooled per tenant origin (scheme, host, port): one small client each, as the
webhooks sender does, because httpcore's pool does work proportional to its size on every
request (one 200-connection pool cost more CPU per fetch than the fetch's signing, parsing and
database write together; see docs/decisions/0606).
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import httpx

from cpaas.voice import conf
from webhooks import ssrf
from webhooks.sender import guarded_client

UrlNotAllowed = ssrf.BlockedAddress


def validate_url(url: str) -> str:
    """Check a tenant URL when a call is created; raises ``ssrf.UnsafeUrl`` saying why."""
    return ssrf.validate_url(url, live=False)


class TenantClients:
    """One small SSRF-guarded, keep-alive client per tenant origin, on the engine's loop."""

    def __init__(self, *, per_origin: int | None = None, idle_seconds: float = 60.0) -> None:
        self.per_origin = per_origin or conf.VOICE_FETCH_CONNECTIONS_PER_ORIGIN
        self.idle_seconds = idle_seconds
        self._clients: dict[tuple[str, str, int | None], tuple[httpx.AsyncClient, float]] = {}
        self._last_sweep = time.monotonic()

    def for_url(self, url: str) -> httpx.AsyncClient:
        parts = urlsplit(url)
        key = (parts.scheme, (parts.hostname or "").lower(), parts.port)
        now = time.monotonic()
        entry = self._clients.get(key)
        client = entry[0] if entry else guarded_client(max_connections=self.per_origin)
        self._clients[key] = (client, now)
        if now - self._last_sweep > self.idle_seconds / 2:
            self._last_sweep = now
            for other, (idle, used) in list(self._clients.items()):
                if now - used > self.idle_seconds:
                    # An idle client has no request in flight that still needs it: the engine
                    # took it for a request within the last idle_seconds otherwise.
                    del self._clients[other]
                    asyncio.get_running_loop().create_task(idle.aclose())
        return client

    async def aclose(self) -> None:
        clients, self._clients = [client for client, _ in self._clients.values()], {}
        for client in clients:
            await client.aclose()
