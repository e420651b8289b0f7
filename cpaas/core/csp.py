"""django-csp's middleware with the site-wide header built once instead of on every response.

Building the policy costs ~40 µs a response (two ``dataclasses.asdict`` and two ``build_policy``
calls), which every API request would pay for a header that never changes. Responses that change
the policy (``csp_update``/``csp_replace``/``csp``/``csp_exempt`` on the view, as /v1/reference
does), that used a nonce, or under DEBUG (where django-csp skips 404/500 debug pages) still go
through django-csp itself (decision 0852).
"""

from __future__ import annotations

from csp.constants import HEADER
from csp.middleware import CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

_PER_RESPONSE = ("_csp_config", "_csp_update", "_csp_replace", "_csp_exempt",
                 "_csp_config_ro", "_csp_update_ro", "_csp_replace_ro", "_csp_exempt_ro")


class SiteCSPMiddleware(CSPMiddleware):
    _built: tuple[int, str] | None = None  # (id of the CONTENT_SECURITY_POLICY setting, its header)

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if (
            settings.DEBUG
            or getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None)
            or getattr(request, "_csp_nonce", None) is not None
            or any(hasattr(response, name) for name in _PER_RESPONSE)
        ):
            return super().process_response(request, response)
        if HEADER not in response:
            response[HEADER] = self._site_policy()
        return response

    def _site_policy(self) -> str:
        return site_policy()


def site_policy() -> str:
    """The site-wide header value (also sent by the lean send path, cpaas/messaging/accept/)."""
    config = getattr(settings, "CONTENT_SECURITY_POLICY", None)
    built = SiteCSPMiddleware._built
    if built is None or built[0] != id(config):
        built = SiteCSPMiddleware._built = (id(config), build_policy())
    return built[1]
