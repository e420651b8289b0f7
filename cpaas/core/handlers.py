"""Django's 404/500 handlers: JSON under /v1/, Django's own pages elsewhere."""

from __future__ import annotations

import sys

from django.views import defaults

from cpaas.core.errors import ApiError, NotFound, ServiceUnavailable, error_response, to_api_error
from cpaas.core.middleware import is_api_path


def not_found(request, exception=None):
    if is_api_path(request.path):
        return error_response(NotFound(f"Unrecognized request URL ({request.method} {request.path})."))
    return defaults.page_not_found(request, exception)


def server_error(request):
    if is_api_path(request.path):
        # Django calls this inside its ``except``: an outage raised by a middleware is still a 503.
        error = to_api_error(sys.exc_info()[1]) if sys.exc_info()[1] is not None else None
        if not isinstance(error, ServiceUnavailable):
            error = ApiError(code="internal_error")
        return error_response(error)
    return defaults.server_error(request)


def bad_request(request, exception=None):
    if is_api_path(request.path):
        return error_response(ApiError("Bad request."))
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    if is_api_path(request.path):
        return error_response(ApiError(code="permission_denied"))
    return defaults.permission_denied(request, exception)
