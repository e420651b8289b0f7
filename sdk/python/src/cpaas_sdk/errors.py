"""Typed errors: every API error arrives as an :class:`ApiError` subclass carrying the envelope.

The class is chosen by the error ``code`` first (a few codes have their own class), then by the
HTTP status, so ``except NotFound`` and ``except InsufficientFunds`` read as the cause.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any


class CpaasError(Exception):
    """Base of everything this SDK raises."""


class ApiConnectionError(CpaasError):
    """The API could not be reached (DNS, refused connection, timeout) after every retry."""


class ApiError(CpaasError):
    """An error answer of the API: ``{"error": {"type", "code", "message", "param", "request_id", …}}``."""

    def __init__(self, *, status: int, code: str, message: str, param: str | None = None,
                 request_id: str | None = None, retryable: bool = False, type: str | None = None,
                 doc_url: str | None = None, body: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}" + (f" (param: {param})" if param else "")
                         + (f" [request {request_id}]" if request_id else ""))
        self.status, self.code, self.message, self.param = status, code, message, param
        self.request_id, self.retryable, self.type, self.doc_url = request_id, retryable, type, doc_url
        self.body = body or {}
        self.headers = headers or {}


class InvalidRequest(ApiError):
    """400 / 405 / 413 / 415 / 422: the request itself is wrong; fix it before retrying."""


class AuthenticationError(ApiError):
    """401: a missing, malformed, revoked or unknown API key."""


class InsufficientFunds(ApiError):
    """402: the balance or the spend cap refuses a billable action."""


class PermissionDenied(ApiError):
    """403: the key may not do this (scope, mode, geo permission…)."""


class NotFound(ApiError):
    """404: no such object for this key (another app's or the other mode's objects are 404 too)."""


class Conflict(ApiError):
    """409: the object's state forbids it, or the same Idempotency-Key is still being processed."""


class IdempotencyError(InvalidRequest):
    """422 ``idempotency_key_reused``: the key was used before with another body."""


class RateLimited(ApiError):
    """429: slow down; ``retry_after`` says for how long."""

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("retry-after"))


class ServerError(ApiError):
    """500 and other 5xx: a fault on the platform's side; retryable."""


class ServiceUnavailable(ServerError):
    """503: a dependency of the platform is down; retry after ``Retry-After``."""


_BY_CODE: dict[str, type[ApiError]] = {
    "insufficient_funds": InsufficientFunds,
    "spend_cap_exceeded": InsufficientFunds,
    "idempotency_key_reused": IdempotencyError,
    "rate_limited": RateLimited,
    "service_unavailable": ServiceUnavailable,
}

_BY_STATUS: dict[int, type[ApiError]] = {
    401: AuthenticationError, 402: InsufficientFunds, 403: PermissionDenied, 404: NotFound,
    409: Conflict, 429: RateLimited, 503: ServiceUnavailable,
}


def error_class(status: int, code: str) -> type[ApiError]:
    if code in _BY_CODE:
        return _BY_CODE[code]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else InvalidRequest


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the API sends seconds; an HTTP date is read too)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
