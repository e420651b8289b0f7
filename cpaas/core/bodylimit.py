"""The request-size limit, enforced on the server's input stream, before Django reads a byte.

Django's ASGI handler reads the whole body (into a temporary file) before any middleware runs, so a
``Content-Length`` check in middleware comes too late, and a chunked body has no length to check at
all. These wrappers sit between the server and Django: a declared length over ``MAX_REQUEST_BYTES``
is refused at once, and an undeclared one (chunked) is counted as it arrives and cut off at the
limit. Either way the answer is 413 ``request_too_large`` and the connection is closed, so the rest
of the body is never read.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from ulid import ULID

from cpaas.core.context import request_id_var
from cpaas.core.errors import ApiError
from cpaas.core.middleware import is_api_path

ASGIApp = Callable[..., Any]


def _declared_length(raw: bytes | str | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def too_large_response(path: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body of the 413 (the JSON envelope under /v1/, plain text elsewhere)."""
    request_id = f"req_{ULID()}"
    token = request_id_var.set(request_id)
    try:
        if is_api_path(path):
            body = json.dumps(ApiError(code="request_too_large").body()).encode()
            content_type = b"application/json"
        else:
            body, content_type = b"Request body too large.\n", b"text/plain; charset=utf-8"
    finally:
        request_id_var.reset(token)
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
               (b"request-id", request_id.encode()), (b"connection", b"close")]
    return 413, headers, body


async def _refuse(scope, send) -> None:
    status, headers, body = too_large_response(scope.get("path", ""))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def asgi_body_limit(app: ASGIApp) -> ASGIApp:
    """Wrap an ASGI app so no HTTP request body over ``MAX_REQUEST_BYTES`` reaches it.

    A body without ``Content-Length`` (chunked) is read here, at most one byte past the limit, and
    handed on with its length: Django reads such a body as empty otherwise.
    """

    async def limited(scope, receive, send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        limit = settings.MAX_REQUEST_BYTES
        headers = scope.get("headers") or []
        declared = _declared_length(dict(headers).get(b"content-length"))
        if declared is not None:
            if declared > limit:
                await _refuse(scope, send)
                return
            await app(scope, receive, send)  # the server delivers no more than it declared
            return
        if b"transfer-encoding" not in dict(headers):
            await app(scope, receive, send)  # neither length nor chunks: HTTP/1.1 says no body
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await _refuse(scope, send)
                return
            if not message.get("more_body"):
                break
        scope = {**scope, "headers": [*(h for h in headers if h[0] != b"transfer-encoding"),
                                      (b"content-length", str(len(body)).encode())]}
        pending = [{"type": "http.request", "body": bytes(body), "more_body": False}]

        async def replay():
            return pending.pop() if pending else await receive()

        await app(scope, replay, send)

    return limited


def wsgi_body_limit(app: Callable) -> Callable:
    """The same for WSGI servers: a chunked body (no ``CONTENT_LENGTH``, which Django would read as
    empty) is read up to the limit and handed on with its length, or refused."""

    def limited(environ: dict, start_response: Callable) -> Iterable[bytes]:
        limit = settings.MAX_REQUEST_BYTES
        declared = _declared_length(environ.get("CONTENT_LENGTH") or None)
        if declared is None and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = environ["wsgi.input"].read(limit + 1)
            declared = len(body)
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(declared)
        if declared is None or declared <= limit:
            return app(environ, start_response)
        _, headers, body = too_large_response(environ.get("PATH_INFO", ""))
        start_response("413 Request Entity Too Large", [(k.decode(), v.decode()) for k, v in headers])
        return [body]

    return limited
