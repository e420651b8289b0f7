"""Request ids, access logs, and the API boundary: no HTML error page ever leaves ``/v1/``, and
text that cannot be stored (a NUL in a query value or a URL parameter) is refused before a view
runs. Bodies over the limit are stopped earlier still, in the server wrappers of cpaas.core.bodylimit."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from ulid import ULID

from cpaas.core.context import app_id_var, key_id_var, request_id_var, request_var, tenant_id_var
from cpaas.core.errors import ApiError, NotFound, error_response, to_api_error
from cpaas.core.parsers import bad_characters, text_problem

access_log = logging.getLogger("cpaas.access")
log = logging.getLogger(__name__)


def is_api_path(path: str) -> bool:
    """The API's paths: /v1/ and the Twilio-compatible /2010-04-01/ (never an HTML page)."""
    return path.startswith(("/v1/", "/2010-04-01/")) or path == "/v1"


class RequestIdMiddleware:
    """Gives every request an id (``req_…``), echoes it as ``Request-Id`` and logs the request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = f"req_{ULID()}"
        request.request_id = request_id
        tokens = (request_id_var.set(request_id), app_id_var.set(None), key_id_var.set(None),
                  request_var.set(request), tenant_id_var.set(None))
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
            request_var.reset(tokens[3])
            tenant_id_var.reset(tokens[4])


# Status of an HTML error page (Django's debug pages, a middleware's refusal) -> our code for it.
_HTML_ERROR_CODES = {400: "invalid_request", 403: "permission_denied", 404: "not_found",
                     405: "method_not_allowed", 413: "request_too_large"}


def _query_problem(request: HttpRequest) -> ApiError | None:
    """A NUL in a query name or value (``?status=%00``): PostgreSQL text cannot hold it."""
    for name, values in request.GET.lists():
        for text in (name, *values):
            problem = text_problem(text)
            if problem:
                return bad_characters(name if text_problem(name) is None else None, problem)
    return None


def _as_envelope(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """The JSON envelope in place of an HTML error page (DEBUG's technical 404/500 bypass the
    handlers in cpaas.core.handlers, so they are caught here)."""
    status = response.status_code
    if status == 404:
        return error_response(NotFound(f"Unrecognized request URL ({request.method} {request.path})."))
    code = _HTML_ERROR_CODES.get(status, "internal_error" if status >= 500 else "invalid_request")
    return error_response(ApiError(code=code, status=status))


class ApiBoundaryMiddleware:
    """Refuses oversized bodies with 413 before anything reads them, NUL characters in query
    strings and URL parameters with 400, and turns any exception or HTML error page that would
    leave an API path (even with DEBUG on) into the JSON envelope."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api_path(request.path):
            return self.get_response(request)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.MAX_REQUEST_BYTES:
            return error_response(ApiError(code="request_too_large"))
        if "%00" in request.META.get("QUERY_STRING", ""):
            problem = _query_problem(request)
            if problem is not None:
                return error_response(problem)
        response = self.get_response(request)
        if response.status_code >= 400 and response.get("Content-Type", "").startswith("text/html"):
            return _as_envelope(request, response)
        return response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        if "\x00" not in request.path_info or not is_api_path(request.path):
            return None
        for name, value in view_kwargs.items():
            problem = text_problem(value) if isinstance(value, str) else None
            if problem:
                return error_response(bad_characters(name, problem))
        return error_response(NotFound())

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_path(request.path):
            return None
        if isinstance(exception, RequestDataTooBig):
            return error_response(ApiError(code="request_too_large"))
        error = to_api_error(exception)
        if error is None:
            log.exception("unhandled error under /v1/", exc_info=exception)
            error = ApiError(code="internal_error")
        return error_response(error)
