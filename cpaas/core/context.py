"""Per-request context (request id, app, key) for logs and error bodies, kept in contextvars."""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
app_id_var: ContextVar[str | None] = ContextVar("app_id", default=None)
key_id_var: ContextVar[str | None] = ContextVar("key_id", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()
