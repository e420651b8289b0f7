"""Tenant URLs (call-control documents) are reached only through the webhooks room's SSRF guard.

There is one guard in the platform, ``webhooks/ssrf.py``: every address a host resolves to must
be public (or on the operator's allow-list, ``WEBHOOK_ALLOWED_CIDRS``), and the connection goes
to that checked address, pinned, with the Host header and TLS SNI kept; a DNS answer that changes
between check and connect (rebinding) finds no second lookup to slip into. Every connection
here is made by the guard's network backend (``ssrf.GuardedBackend``). Redirects are never
followed. A refused address surfaces as :class:`UrlNotAllowed`.

Connections are kept alive per tenant origin (scheme, host, port) in a small pool of our own on
httpcore's HTTP/1.1 connections: httpcore's pool polls every idle connection's socket on every
request, which cost more CPU than the fetch's signing, parsing and database write together
(docs/decisions/0606); here a request checks only the one connection it takes.
"""

from __future__ import annotations

import asyncio
import time
from functools import lru_cache

import httpcore
import httpx

from cpaas.voice import conf
from webhooks import ssrf

UrlNotAllowed = ssrf.BlockedAddress


def validate_url(url: str) -> str:
    """Check a tenant URL when a call is created; raises ``ssrf.UnsafeUrl`` saying why."""
    return ssrf.validate_url(url, live=False)


class FetchError(Exception):
    """The tenant's server could not be reached or broke the protocol."""


class FetchTimeout(FetchError):
    pass


class _OriginPool:
    """Keep-alive HTTP/1.1 connections to one origin, at most ``size`` at once, newest reused first."""

    def __init__(self, origin: httpcore.Origin, size: int) -> None:
        self.origin = origin
        self.slots = asyncio.Semaphore(size)
        self.idle: list[httpcore.AsyncHTTPConnection] = []

    async def _connection(self) -> httpcore.AsyncHTTPConnection:
        while self.idle:
            connection = self.idle.pop()
            if connection.is_available() and not connection.has_expired():
                return connection
            await connection.aclose()
        return httpcore.AsyncHTTPConnection(
            self.origin, ssl_context=_ssl_context() if self.origin.scheme == b"https" else None,
            keepalive_expiry=KEEPALIVE_SECONDS, network_backend=_BACKEND)

    async def post(self, url: httpcore.URL, body: bytes, headers: dict[str, str], *, timeout: float,
                   limit: int) -> tuple[int, bytes]:
        async with self.slots:
            connection = await self._connection()
            extensions = {"timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}}
            try:
                async with asyncio.timeout(timeout):
                    response = await connection.handle_async_request(httpcore.Request(
                        b"POST", url, headers=_request_headers(url, headers, body), content=body,
                        extensions=extensions))
                    content = bytearray()
                    try:
                        if response.status == 200:
                            async for chunk in response.aiter_stream():
                                content += chunk
                                if len(content) > limit:
                                    break
                    finally:
                        await response.aclose()
            except BaseException:
                await connection.aclose()
                raise
            if connection.is_idle():
                self.idle.append(connection)
            else:
                await connection.aclose()
            return response.status, bytes(content[: limit + 1])


def _request_headers(url: httpcore.URL, headers: dict[str, str], body: bytes) -> list[tuple[bytes, bytes]]:
    default = 443 if url.scheme == b"https" else 80
    host = url.host if url.port in (None, default) else b"%b:%d" % (url.host, url.port)
    return [(b"host", host), (b"content-length", str(len(body)).encode()), (b"accept-encoding", b"identity"),
            *((name.encode(), value.encode()) for name, value in headers.items())]


_closing: set[asyncio.Task] = set()  # strong references until idle connections are closed
KEEPALIVE_SECONDS = 4.0  # below uvicorn's and node's 5 s idle timeout, as the webhooks sender does
_BACKEND = ssrf.GuardedBackend()


@lru_cache(maxsize=1)
def _ssl_context():
    return httpx.create_ssl_context()  # loading the CA bundle takes milliseconds: once per process


class TenantClients:
    """Signed POSTs to tenant origins: guarded, keep-alive, ``per_origin`` connections each."""

    def __init__(self, *, per_origin: int | None = None, idle_seconds: float = 60.0) -> None:
        self.per_origin = per_origin or conf.VOICE_FETCH_CONNECTIONS_PER_ORIGIN
        self.idle_seconds = idle_seconds
        self._pools: dict[tuple[bytes, bytes, int | None], tuple[_OriginPool, float]] = {}
        self._last_sweep = time.monotonic()

    async def post(self, url: str, body: bytes, headers: dict[str, str], *, timeout: float,
                   limit: int) -> tuple[int, bytes]:
        """(status, body) — the body only for a 200, and at most ``limit`` + 1 bytes of it."""
        try:
            target = httpcore.URL(url)
            if target.scheme not in (b"http", b"https") or not target.host:
                raise FetchError("only absolute http(s) URLs can be fetched")
            return await self._pool(target).post(target, body, headers, timeout=timeout, limit=limit)
        except (TimeoutError, httpcore.TimeoutException) as exc:
            raise FetchTimeout(type(exc).__name__) from None
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}") from None

    def _pool(self, url: httpcore.URL) -> _OriginPool:
        key = (url.scheme, url.host.lower(), url.port)
        now = time.monotonic()
        entry = self._pools.get(key)
        pool = entry[0] if entry else _OriginPool(url.origin, self.per_origin)
        self._pools[key] = (pool, now)
        if now - self._last_sweep > self.idle_seconds / 2:
            self._last_sweep = now
            for other, (idle, used) in list(self._pools.items()):
                if now - used > self.idle_seconds and not idle.slots.locked():
                    del self._pools[other]
                    for connection in idle.idle:
                        task = asyncio.get_running_loop().create_task(connection.aclose())
                        _closing.add(task)
                        task.add_done_callback(_closing.discard)
        return pool

    async def aclose(self) -> None:
        pools, self._pools = [pool for pool, _ in self._pools.values()], {}
        for pool in pools:
            for connection in pool.idle:
                await connection.aclose()


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
