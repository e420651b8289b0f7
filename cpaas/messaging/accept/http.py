"""The HTTP edge of the lean send path: which requests it takes, the request as it needs it, and
answers with the headers Django's stack would have added.

A request the lean path could not answer exactly as Django does (an unusual ``Accept``, a query
string, a host Django would refuse, a security setting that adds headers per request) is left to
Django: :func:`takes` says so before a byte of the body is read.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from rest_framework.renderers import JSONRenderer

from cpaas.core.csp import site_policy
from cpaas.messaging import conf

access_log = logging.getLogger("cpaas.access")

PATH = "/v1/messages"
#: What ApiView answers without DRF's content negotiation (cpaas/core/views.py).
PLAIN_ACCEPT = frozenset({None, "", "*/*", "application/json"})
_ALLOW = "GET, POST, HEAD, OPTIONS"  # MessagesView's methods, as DRF's Allow header lists them
_renderer = JSONRenderer()


@dataclass
class Request:
    """What the lean path reads of an HTTP request."""

    scope: dict
    headers: dict[str, str]
    docs_url: str | None
    body: bytes = b""
    started: float = field(default_factory=time.perf_counter)

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


def _headers(scope: dict) -> dict[str, str]:
    """Header names lower-cased; repeated headers joined with "," as Django's ASGIRequest does."""
    out: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers") or ():
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        out[name] = f"{out[name]},{value}" if name in out else value
    return out


_hosts: dict[tuple, tuple[bool, str | None]] = {}


def _host(scope: dict, headers: dict[str, str]) -> tuple[bool, str | None]:
    """(Django would accept the host, the docs URL error bodies name): asked of a real Django
    request once per distinct host, scheme and proxy headers."""
    key = (scope.get("scheme"), headers.get("host"), headers.get("x-forwarded-host"),
           headers.get("x-forwarded-proto"), tuple(scope.get("server") or ()))
    known = _hosts.get(key)
    if known is None:
        request = ASGIRequest({**scope, "path": "/docs", "query_string": b""}, io.BytesIO())
        try:
            known = (True, request.build_absolute_uri("/docs"))
        except DisallowedHost:
            known = (False, None)
        if len(_hosts) > 1000:
            _hosts.clear()
        _hosts[key] = known
    return known


def takes(scope: dict) -> Request | None:
    """The request, when the lean path serves it; None for Django."""
    if (scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH
            or scope.get("root_path") or scope.get("query_string") or not conf.LEAN_ACCEPT
            or settings.DISALLOWED_USER_AGENTS or settings.SECURE_SSL_REDIRECT or settings.SECURE_HSTS_SECONDS
            or getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None)):
        return None
    headers = _headers(scope)
    if headers.get("accept") not in PLAIN_ACCEPT:
        return None
    allowed, docs_url = _host(scope, headers)
    if not allowed:
        return None
    return Request(scope, headers, docs_url)


async def read_body(receive) -> bytes | None:
    """The whole body (its size already bounded by cpaas.core.bodylimit); None if the client left."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


_static: list[tuple[bytes, bytes]] | None = None


def _static_headers() -> list[tuple[bytes, bytes]]:
    """What DRF's view and Django's middleware add to every answer of this endpoint."""
    global _static
    if _static is None:
        pairs = [("Allow", _ALLOW), ("Content-Security-Policy", site_policy())]
        if settings.X_FRAME_OPTIONS:
            pairs.append(("X-Frame-Options", settings.X_FRAME_OPTIONS.upper()))
        if settings.SECURE_CONTENT_TYPE_NOSNIFF:
            pairs.append(("X-Content-Type-Options", "nosniff"))
        policy = settings.SECURE_REFERRER_POLICY
        if policy:
            pairs.append(("Referrer-Policy", policy if isinstance(policy, str) else ",".join(policy)))
        if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
            pairs.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
        _static = [(name.encode(), value.encode()) for name, value in pairs]
    return _static


def render(data) -> bytes:
    """JSON as DRF's renderer writes it (the same bytes the Django path answers)."""
    return _renderer.render(data)


async def respond(send, request: Request, status: int, body: bytes, headers: dict[str, str],
                  request_id: str) -> None:
    """Send the answer and log it as RequestIdMiddleware logs Django's."""
    out = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
           *_static_headers(), *((name.encode(), str(value).encode()) for name, value in headers.items()),
           (b"request-id", request_id.encode())]
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})
    access_log.info("request", extra={"method": "POST", "path": PATH, "status": status,
                                      "duration_ms": round((time.perf_counter() - request.started) * 1000, 2)})
