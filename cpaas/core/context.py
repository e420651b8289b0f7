"""Per-request and per-task context (request id, task id, tenant, app, key) for logs and error
bodies, kept in contextvars."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

from django.core.exceptions import DisallowedHost

if TYPE_CHECKING:
    from django.http import HttpRequest

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
app_id_var: ContextVar[str | None] = ContextVar("app_id", default=None)
key_id_var: ContextVar[str | None] = ContextVar("key_id", default=None)
tenant_id_var: ContextVar[str | None] = ContextVar("tenant_id", default=None)
task_id_var: ContextVar[str | None] = ContextVar("task_id", default=None)
request_var: ContextVar[HttpRequest | None] = ContextVar("request", default=None)
#: Set by an ASGI handler that serves without a Django request (the lean send path).
docs_url_var: ContextVar[str | None] = ContextVar("docs_url", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()


def current_docs_url() -> str | None:
    """``<scheme>://<host>/docs`` of the request being served, if its host is an allowed one."""
    request = request_var.get()
    if request is None:
        return docs_url_var.get()
    try:
        return request.build_absolute_uri("/docs")
    except DisallowedHost:
        return None
