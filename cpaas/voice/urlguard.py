"""Tenant URLs (call-control documents) are reached only through the webhooks room's SSRF guard.

There is one guard in the platform, ``webhooks/ssrf.py``: every address a host resolves to must
be public (or on the operator's allow-list, ``WEBHOOK_ALLOWED_CIDRS``), and the connection goes
to that checked address, pinned, with the Host header and TLS SNI kept; a DNS answer that changes
between check and connect (rebinding) finds no second lookup to slip into. Every connection
here is opened by ``webhooks.http.connect``, which resolves once through the guard. Redirects are
never followed. A refused address surfaces as :class:`UrlNotAllowed`.

Connections are kept alive per tenant origin by the webhooks room's lean client
(``webhooks/http.py``, decision 0107); the engine bounds the requests in flight per origin.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from cpaas.voice import conf
from webhooks import http, ssrf

UrlNotAllowed = ssrf.BlockedAddress


def validate_url(url: str) -> str:
    """Check a tenant URL when a call is created; raises ``ssrf.UnsafeUrl`` saying why."""
    return ssrf.validate_url(url, live=False)


class FetchError(Exception):
    """The tenant's server could not be reached or broke the protocol."""


class FetchTimeout(FetchError):
    pass


class TenantClients:
    """Signed POSTs to tenant origins through the webhooks room's client (``webhooks/http.py``:
    guarded, pinned, keep-alive), at most ``per_origin`` requests in flight per origin."""

    def __init__(self, *, per_origin: int | None = None) -> None:
        self.per_origin = per_origin or conf.VOICE_FETCH_CONNECTIONS_PER_ORIGIN
        self.pool = http.Pool()
        self._slots = http.OriginSlots(self.per_origin)
        self._last_sweep = time.monotonic()

    async def post(self, url: str, body: bytes, headers: dict[str, str], *, timeout: float,
                   limit: int) -> tuple[int, bytes]:
        """(status, body) — the body only for a 200, and at most ``limit`` + 1 bytes of it."""
        try:
            async with self._slots(url), asyncio.timeout(timeout):
                response = await self.pool.post(url, headers, body, max_body=limit + 1)
        except TimeoutError as exc:
            raise FetchTimeout(str(exc) or "timed out") from None
        except http.HttpError as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}") from None
        now = time.monotonic()
        if now - self._last_sweep > 30:
            self._last_sweep = now
            self.pool.sweep()
        return response.status, bytes(response.body) if response.status == 200 else b""

    async def aclose(self) -> None:
        self.pool.close()


class HttpxFetcher:
    """The same interface over one ``httpx.AsyncClient`` for every URL (tests plug an
    ``httpx.MockTransport`` in: the edge of the world)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def post(self, url: str, body: bytes, headers: dict[str, str], *, timeout: float,
                   limit: int) -> tuple[int, bytes]:
        try:
            response = await self.client.post(url, content=body, headers=headers, timeout=timeout,
                                              follow_redirects=False)
        except httpx.TimeoutException as exc:
            raise FetchTimeout(type(exc).__name__) from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}") from None
        return response.status_code, response.content[: limit + 1] if response.status_code == 200 else b""
