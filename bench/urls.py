"""``/bench/bare``: the baseline, a DRF view with no authentication and no permission checks."""

from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from cpaas.tenants.api import MeView


class BareView(APIView):
    authentication_classes = []
    permission_classes = []

    def get(self, request):
        return Response({"object": "bare", "ok": True})


urlpatterns = [
    path("bench/bare", BareView.as_view(), name="bench-bare"),
    # The real /v1/me view at the top of the URLconf: the profiler uses it to price URL resolution.
    path("bench/me", MeView.as_view(), name="bench-me"),
    path("", include("cpaas.urls")),
]

handler400 = "cpaas.core.handlers.bad_request"
handler403 = "cpaas.core.handlers.permission_denied"
handler404 = "cpaas.core.handlers.not_found"
handler500 = "cpaas.core.handlers.server_error"
