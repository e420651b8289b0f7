"""The egress client: the only way to send an HTTP request to a tenant-supplied URL.

A lean HTTP/1.1 POST client (and GET, for the audio a call plays): asyncio protocol + httptools
parser, keep-alive pools. Why not httpx: profiled in a worker, httpx/httpcore spent more CPU per
delivery than everything else together (pool bookkeeping, a liveness probe of every idle
connection per request, the head and the body in two writes); this sends one write per request
and parses the answer in C (docs/decisions/0107). It does only what a tenant URL needs: POST (and
GET), no redirects (a 3xx is
returned as it is, never followed), no compression, the answer's head capped at
``conf.MAX_HEAD_BYTES`` and its body read up to the caller's cap. Every new connection goes
through the SSRF guard (``ssrf.py``): the host is resolved once, every address checked, and the
socket opened to the checked address (Host and TLS SNI keep the name), so DNS rebinding cannot
slip through. Time limits: ``conf.CONNECT_TIMEOUT`` per connect, the caller's total timeout
around the request (``sync.py`` and every async caller wrap it in ``asyncio.timeout``).
"""

from __future__ import annotations

import asyncio
import collections
import socket
import ssl
import time
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, urlsplit

import httptools

from cpaas.core.egress import conf, ssrf


class HttpError(Exception):
    """The attempt failed below HTTP (connect, protocol, connection closed)."""


class ConnectError(HttpError):
    pass


class ReadError(HttpError):
    pass


class ProtocolError(HttpError):
    pass


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str  # for DNS, SNI and the Host header (IDNA-encoded)
    port: int
    host_header: str
    path: str  # path and query, percent-encoded

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


@lru_cache(maxsize=4096)
def target(url: str) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProtocolError(f"not an http(s) URL: {url[:200]}")
    host = parts.hostname
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        host = host.encode("idna").decode("ascii")
    default = 443 if parts.scheme == "https" else 80
    port = parts.port or default
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default else f"{shown}:{port}"
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        path += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    return Target(parts.scheme, host, port, host_header, path)


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    context = ssl.create_default_context()  # loading the CA bundle takes milliseconds: do it once
    context.set_alpn_protocols(["http/1.1"])
    return context


class Response:
    __slots__ = ("body", "head_bytes", "headers", "keep_alive", "status", "truncated")

    def __init__(self) -> None:
        self.status = 0
        self.head_bytes = 0
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.truncated = False
        self.keep_alive = False


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self) -> None:
        self.max_body = 0  # set per request
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.response: Response | None = None
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self.idle_since = time.monotonic()

    # asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None:  # bytes nobody asked for: the connection is unusable
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ProtocolError("unexpected protocol upgrade"))
            return
        except httptools.HttpParserError as exc:
            self._fail(ProtocolError(f"invalid HTTP response: {exc}"))
            return
        if response.status == 0:  # still in the head: cap it (the parser keeps what it has read)
            response.head_bytes += len(data)
            if response.head_bytes > conf.MAX_HEAD_BYTES:
                self._fail(ProtocolError(f"response head larger than {conf.MAX_HEAD_BYTES} bytes"))

    def eof_received(self):
        self.closed = True
        if self.response is not None and self.waiter is not None and not self.waiter.done():
            if self._delimited_by_close():
                self._finish()  # HTTP/1.0 style: the body ends where the connection does
            else:
                self._fail(ReadError("the server closed the connection mid-response"))
        return False

    def _delimited_by_close(self) -> bool:
        """The head is in and announced neither a length nor chunks (RFC 9112 §6.3, last rule)."""
        response = self.response
        return (response.status != 0 and "content-length" not in response.headers
                and "chunked" not in response.headers.get("transfer-encoding", "").lower())

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ReadError(
                f"connection lost: {exc}" if exc else "the server closed the connection mid-response"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self.response.headers) < 100:
            self.response.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.response.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        response = self.response
        room = self.max_body - len(response.body)
        if len(body) >= room:
            response.body += body[:room]
            response.truncated = True
            self._finish()  # stop reading: the rest is never downloaded
        else:
            response.body += body

    def on_message_complete(self) -> None:
        self._finish()

    # requests
    def _finish(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.response.keep_alive = (not self.response.truncated and not self.closed
                                        and self.parser.should_keep_alive())
            self.waiter.set_result(self.response)

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        self.close()

    async def request(self, data: bytes, max_body: int) -> Response:
        self.max_body = max_body
        self.response = Response()
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        try:
            return await self.waiter
        finally:
            self.waiter = None

    def reusable(self, now: float) -> bool:
        return not self.closed and not self.transport.is_closing() and now - self.idle_since < conf.KEEPALIVE_SECONDS

    def reset(self) -> None:
        """Ready for the next request on the same connection."""
        self.response = None
        self.parser = httptools.HttpResponseParser(self)
        self.idle_since = time.monotonic()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


async def connect(tgt: Target) -> Connection:
    """Open a connection to a checked, pinned address of ``tgt.host`` (the SSRF guard)."""
    loop = asyncio.get_running_loop()
    try:
        addresses = await loop.run_in_executor(None, ssrf.checked_addresses, tgt.host, tgt.port)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConnectError(f"could not resolve {tgt.host}: {exc}") from None
    tls = tgt.scheme == "https"
    last: Exception | None = None
    for address in addresses:
        try:
            async with asyncio.timeout(conf.CONNECT_TIMEOUT):
                _transport, protocol = await loop.create_connection(
                    Connection, address, tgt.port,
                    ssl=_ssl_context() if tls else None, server_hostname=tgt.host if tls else None,
                )
            return protocol
        except TimeoutError:
            last = TimeoutError(f"connect to {tgt.host} timed out")
        except (OSError, ssl.SSLError) as exc:
            last = ConnectError(f"could not connect to {tgt.host}: {exc}")
    assert last is not None
    raise last


def request_bytes(tgt: Target, headers: dict[str, str], body: bytes, method: str = "POST") -> bytes:
    lines = [f"{method} {tgt.path} HTTP/1.1\r\nhost: {tgt.host_header}\r\n"]
    for name, value in headers.items():
        lines.append(f"{name}: {value}\r\n")
    lines.append(f"content-length: {len(body)}\r\n\r\n" if method == "POST" or body else "\r\n")
    return "".join(lines).encode("latin-1") + body


class OriginSlots:
    """At most ``limit`` requests in flight per origin (scheme, host, port) of a URL: one lazily
    made semaphore per origin, for callers that post to many tenants' URLs over one ``Pool``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots: dict[tuple[str, str, int], asyncio.Semaphore] = {}

    def __call__(self, url: str) -> asyncio.Semaphore:
        """The semaphore of ``url``'s origin; HttpError for a URL that cannot be requested."""
        origin = target(url).origin
        slots = self._slots.get(origin)
        if slots is None:
            slots = self._slots[origin] = asyncio.Semaphore(self.limit)
        return slots


class Pool:
    """Idle keep-alive connections per origin (one event loop only)."""

    def __init__(self) -> None:
        self.idle: dict[tuple[str, str, int], collections.deque[Connection]] = {}

    async def post(self, url: str, headers: dict[str, str], body: bytes, *, max_body: int) -> Response:
        return await self.request("POST", url, headers, body, max_body=max_body)

    async def get(self, url: str, headers: dict[str, str], *, max_body: int) -> Response:
        """A GET (the audio of a call's ``Play``); the body is cut at ``max_body`` (``truncated``)."""
        return await self.request("GET", url, headers, b"", max_body=max_body)

    async def request(self, method: str, url: str, headers: dict[str, str], body: bytes, *,
                      max_body: int) -> Response:
        tgt = target(url)
        data = request_bytes(tgt, headers, body, method)
        idle = self.idle.get(tgt.origin)
        now = time.monotonic()
        connection = None
        while idle:
            candidate = idle.pop()
            if candidate.reusable(now):
                connection = candidate
                break
            candidate.close()
        if connection is None:
            connection = await connect(tgt)
        try:
            response = await connection.request(data, max_body)
        except BaseException:
            connection.close()
            raise
        if response.keep_alive and not connection.closed:
            connection.reset()
            self.idle.setdefault(tgt.origin, collections.deque()).append(connection)
        else:
            connection.close()
        return response

    def sweep(self) -> None:
        """Close connections idle for longer than the keep-alive time."""
        now = time.monotonic()
        for origin, idle in list(self.idle.items()):
            keep: collections.deque = collections.deque()
            for connection in idle:
                if connection.reusable(now):
                    keep.append(connection)
                else:
                    connection.close()
            if keep:
                self.idle[origin] = keep
            else:
                del self.idle[origin]

    def close(self) -> None:
        for idle in self.idle.values():
            for connection in idle:
                connection.close()
        self.idle.clear()
