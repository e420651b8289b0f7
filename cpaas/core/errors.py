"""The one error envelope of the API, the error classes that carry their code, and the handler.

Every failure under ``/v1/`` answers ``{"error": {type, code, message, param, request_id,
retryable, doc_url}}``. Codes are stable and listed in docs/errors.md; a test keeps the two in
step (``ERROR_CODES`` below is the registry).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions as drf
from rest_framework.response import Response

from cpaas.core.context import current_docs_url, current_request_id

log = logging.getLogger(__name__)

# code -> (HTTP status, error type, retryable). The single registry of codes we emit.
ERROR_CODES: dict[str, tuple[int, str, bool]] = {
    "invalid_request": (400, "invalid_request_error", False),
    "invalid_json": (400, "invalid_request_error", False),
    "invalid_cursor": (400, "invalid_request_error", False),
    "url_not_allowed": (400, "invalid_request_error", False),
    "invalid_characters": (400, "invalid_request_error", False),
    "nesting_too_deep": (400, "invalid_request_error", False),
    "authentication_failed": (401, "authentication_error", False),
    "permission_denied": (403, "permission_error", False),
    "live_key_required": (403, "permission_error", False),
    "not_found": (404, "invalid_request_error", False),
    "method_not_allowed": (405, "invalid_request_error", False),
    "not_acceptable": (406, "invalid_request_error", False),
    "idempotency_in_progress": (409, "idempotency_error", True),
    "conflict": (409, "invalid_request_error", False),
    "request_too_large": (413, "invalid_request_error", False),
    "unsupported_media_type": (415, "invalid_request_error", False),
    "idempotency_key_reused": (422, "idempotency_error", False),
    "rate_limited": (429, "rate_limit_error", True),
    "internal_error": (500, "api_error", True),
    "service_unavailable": (503, "api_error", True),
}

DEFAULT_MESSAGES = {
    "invalid_request": "The request is not valid.",
    "invalid_json": "The request body is not valid JSON.",
    "authentication_failed": "Invalid or missing API key. Send `Authorization: Bearer sk_…`.",
    "permission_denied": "This API key is not allowed to do that.",
    "not_found": "No such object.",
    "method_not_allowed": "This method is not allowed on this resource.",
    "request_too_large": "The request body is larger than the 1 MiB limit.",
    "unsupported_media_type": "Send the body as JSON with `Content-Type: application/json`.",
    "rate_limited": "Too many requests. Retry after the number of seconds in `Retry-After`.",
    "internal_error": "Something went wrong on our side. The request can be retried.",
    "service_unavailable": "A service the platform depends on is unreachable. Retry after `Retry-After` seconds.",
}

#: Seconds a client is asked to wait (``Retry-After``) when a dependency is down.
OUTAGE_RETRY_AFTER_SECONDS = 5

#: What a lost database, Redis or broker raises: a 503 the client may retry, never a 500 and never
#: a pass (authentication that cannot be checked fails with it, as everything else does).
OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError, BrokerError,
)


def register_codes(codes: dict[str, tuple[int, str, bool]]) -> None:
    """Rooms add their own codes here (at import) so the registry stays the single list."""
    ERROR_CODES.update(codes)


class ApiError(Exception):
    """An error the API reports to the caller; raise it from services and views alike."""

    code = "invalid_request"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        param: str | None = None,
        status: int | None = None,
        retryable: bool | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.code = code or self.code
        known_status, self.type, known_retryable = ERROR_CODES.get(
            self.code, (400, "invalid_request_error", False)
        )
        self.status = status or known_status
        self.retryable = known_retryable if retryable is None else retryable
        self.message = message or DEFAULT_MESSAGES.get(self.code, self.code.replace("_", " "))
        self.param = param
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        error = {
            "type": self.type,
            "code": self.code,
            "message": self.message,
            "param": self.param,
            "request_id": current_request_id(),
            "retryable": self.retryable,
            "doc_url": f"{docs_base()}/errors#{self.code}",
        }
        error.update(self.extra)
        return {"error": error}


def docs_base() -> str:
    """Where the docs are, as the caller reaches us: ``DOCS_URL``, else ``PUBLIC_BASE_URL``/docs,
    else this request's own scheme and host (never a host the client did not use)."""
    if settings.DOCS_URL:
        return settings.DOCS_URL
    if settings.PUBLIC_BASE_URL:
        return f"{settings.PUBLIC_BASE_URL}/docs"
    return current_docs_url() or "/docs"


class InvalidRequest(ApiError):
    code = "invalid_request"


class NotFound(ApiError):
    code = "not_found"


class AuthenticationFailed(ApiError):
    code = "authentication_failed"


class PermissionDenied(ApiError):
    code = "permission_denied"


class Conflict(ApiError):
    code = "conflict"


class RateLimited(ApiError):
    code = "rate_limited"


class ServiceUnavailable(ApiError):
    code = "service_unavailable"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)})


# --- translating DRF and Django exceptions --------------------------------------------------

def _flatten(detail: Any, prefix: str = "") -> list[tuple[str, str, str]]:
    """DRF's nested error detail as (param, message, code) triples, params like ``items[2].to``."""
    out: list[tuple[str, str, str]] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = prefix if key == "non_field_errors" else (f"{prefix}.{key}" if prefix else key)
            out.extend(_flatten(value, name))
    elif isinstance(detail, list):
        if detail and all(isinstance(item, drf.ErrorDetail | str) for item in detail):
            for item in detail:
                out.extend(_flatten(item, prefix))
        else:
            for index, item in enumerate(detail):
                if item:
                    out.extend(_flatten(item, f"{prefix}[{index}]"))
    else:
        out.append((prefix, str(detail), getattr(detail, "code", None) or "invalid"))
    return out


def from_validation_error(exc: drf.ValidationError) -> ApiError:
    errors = _flatten(exc.detail) or [("", "The request is not valid.", "invalid")]
    param, message, code = errors[0]
    if code not in ERROR_CODES:  # DRF's own codes (required, invalid, max_length…) are all one cause
        code = "invalid_request"
    extra = {}
    if len(errors) > 1:
        extra["errors"] = [
            {"param": p or None, "message": m, "code": c if c in ERROR_CODES else "invalid_request"}
            for p, m, c in errors
        ]
    return ApiError(message, code=code, param=param or None, extra=extra)


def to_api_error(exc: Exception) -> ApiError | None:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, OUTAGE_ERRORS):
        log.warning("dependency unavailable: %s: %s", type(exc).__name__, exc)
        return ServiceUnavailable()
    if isinstance(exc, drf.ValidationError):
        return from_validation_error(exc)
    if isinstance(exc, drf.ParseError):
        return ApiError(f"The request body is not valid JSON: {exc.detail}", code="invalid_json")
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        return AuthenticationFailed()
    if isinstance(exc, drf.PermissionDenied | DjangoPermissionDenied):
        message = str(exc.detail) if isinstance(exc, drf.PermissionDenied) else None
        return PermissionDenied(message)
    if isinstance(exc, drf.NotFound | Http404):
        return NotFound()
    if isinstance(exc, drf.MethodNotAllowed):
        return ApiError(str(exc.detail), code="method_not_allowed")
    if isinstance(exc, drf.NotAcceptable):
        return ApiError(str(exc.detail), code="not_acceptable")
    if isinstance(exc, drf.UnsupportedMediaType):
        return ApiError(code="unsupported_media_type")
    if isinstance(exc, RequestDataTooBig):
        return ApiError(code="request_too_large")
    if isinstance(exc, drf.Throttled):
        wait = int(exc.wait or 1)
        return RateLimited(headers={"Retry-After": str(wait)})
    if isinstance(exc, drf.APIException):
        return ApiError(str(exc.detail), code="invalid_request", status=exc.status_code)
    return None


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every failure leaves in the one envelope."""
    error = to_api_error(exc)
    if error is None:
        log.exception("unhandled error in API view", exc_info=exc)
        error = ApiError(code="internal_error")
    response = Response(error.body(), status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response


def error_response(error: ApiError) -> JsonResponse:
    """The same envelope outside DRF (middleware, Django's 404/500 handlers)."""
    response = JsonResponse(error.body(), status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response
