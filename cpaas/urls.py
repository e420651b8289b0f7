from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularRedocView

from cpaas.core import docs_views, ops_views

_public = {"authentication_classes": [], "permission_classes": []}
# Redoc injects its styles as <style> elements and runs its search in a blob: worker; only the
# reference page gets these (decision 0852).
_redoc_csp = csp_update({"style-src": ["'unsafe-inline'"], "worker-src": ["'self'", "blob:"]})

api_v1 = [
    path("openapi.json", SpectacularJSONAPIView.as_view(**_public), name="openapi"),
    path(
        "reference",
        _redoc_csp(SpectacularRedocView.as_view(url_name="openapi", template_name="core/redoc.html", **_public)),
        name="reference",
    ),
    path("", include("cpaas.tenants.urls")),
    path("", include("cpaas.messaging.urls")),
    path("", include("cpaas.im.urls")),
    path("", include("cpaas.voice.urls")),
    path("", include("cpaas.sip_edge.urls")),
    path("", include("cpaas.rtc.urls")),
    path("", include("webhooks.urls")),
    path("", include("billing.urls")),
]

urlpatterns = [
    path("v1/", include(api_v1)),
    # The Twilio-compatible API (docs/twilio-compatibility.md).
    path("2010-04-01/", include("cpaas.twilio.urls")),
    path("healthz", ops_views.healthz, name="healthz"),
    path("readyz", ops_views.readyz, name="readyz"),
    path("metrics", ops_views.metrics, name="metrics"),
    path("docs/", docs_views.doc_page, name="docs-index"),
    path("docs/<path:page>", docs_views.doc_page, name="docs"),
    path("", include("cpaas.console.urls")),
]

handler400 = "cpaas.core.handlers.bad_request"
handler403 = "cpaas.core.handlers.permission_denied"
handler404 = "cpaas.core.handlers.not_found"
handler500 = "cpaas.core.handlers.server_error"
