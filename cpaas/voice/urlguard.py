"""Voice's use of the one egress (``cpaas/core/egress``) for call-control documents.

Every fetch is a signed POST through the egress client: every address the host resolves to
must be public (or on the operator's allow-list, ``EGRESS_ALLOWED_CIDRS``), the connection goes
to that checked address, pinned, redirects are never followed, the answer is capped. Connections
are kept alive per tenant origin; the engine bounds the requests in flight per origin. A refused
address surfaces as :class:`UrlNotAllowed`.
"""

from __future__ import annotations

import asyncio
import time

from cpaas.core.egress import client, ssrf
from cpaas.voice import conf

UrlNotAllowed = ssrf.BlockedAddress


class FetchError(Exception):
    """The tenant's server could not be reached or broke the protocol."""


class FetchTimeout(FetchError):
    pass


class TenantClients:
    """Signed POSTs to tenant origins through the egress client (guarded, pinned, keep-alive),
    at most ``per_origin`` requests in flight per origin."""

    def __init__(self, *, per_origin: int | None = None) -> None:
        self.per_origin = per_origin or conf.VOICE_FETCH_CONNECTIONS_PER_ORIGIN
        self.pool = client.Pool()
        self._slots = client.OriginSlots(self.per_origin)
        self._last_sweep = time.monotonic()

    async def post(self, url: str, body: bytes, headers: dict[str, str], *, timeout: float,
                   limit: int) -> tuple[int, bytes]:
        """(status, body) — the body only for a 200, and at most ``limit`` + 1 bytes of it."""
        try:
            async with self._slots(url), asyncio.timeout(timeout):
                response = await self.pool.post(url, headers, body, max_body=limit + 1)
        except TimeoutError as exc:
            raise FetchTimeout(str(exc) or "timed out") from None
        except client.HttpError as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}") from None
        now = time.monotonic()
        if now - self._last_sweep > 30:
            self._last_sweep = now
            self.pool.sweep()
        return response.status, bytes(response.body) if response.status == 200 else b""

    async def aclose(self) -> None:
        self.pool.close()
