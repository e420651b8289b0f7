"""Request ids, access logs, and the API boundary: no HTML error page ever leaves ``/v1/``."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from ulid import ULID

from cpaas.core.context import app_id_var, key_id_var, request_id_var
from cpaas.core.errors import ApiError, error_response

access_log = logging.getLogger("cpaas.access")
log = logging.getLogger(__name__)


def is_api_path(path: str) -> bool:
    return path.startswith("/v1/") or path == "/v1"


class RequestIdMiddleware:
    """Gives every request an id (``req_…``), echoes it as ``Request-Id`` and logs the request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = f"req_{ULID()}"
        request.request_id = request_id
        tokens = (request_id_var.set(request_id), app_id_var.set(None), key_id_var.set(None))
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["Request-Id"] = request_id
            access_log.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            return response
        finally:
            request_id_var.reset(tokens[0])
            app_id_var.reset(tokens[1])
            key_id_var.reset(tokens[2])


class ApiBoundaryMiddleware:
    """Refuses oversized bodies with 413 before anything reads them, and turns any exception that
    escapes an API view (even with DEBUG on) into the JSON envelope."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_path(request.path):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.MAX_REQUEST_BYTES:
                return error_response(ApiError(code="request_too_large"))
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_path(request.path):
            return None
        if isinstance(exception, RequestDataTooBig):
            return error_response(ApiError(code="request_too_large"))
        if isinstance(exception, ApiError):
            return error_response(exception)
        log.exception("unhandled error under /v1/", exc_info=exception)
        return error_response(ApiError(code="internal_error"))
