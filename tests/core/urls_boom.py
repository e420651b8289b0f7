"""A URLconf with views that fail on purpose, for the error-envelope tests."""

from django.urls import include, path
from rest_framework.response import Response

from cpaas.core.auth import ANY_PRODUCT
from cpaas.core.views import ApiView
from cpaas.tenants.services import app_create

CALLS = {"post": 0}


class Boom(ApiView):
    product = ANY_PRODUCT

    def get(self, request):
        raise RuntimeError("kaboom")

    def post(self, request):
        CALLS["post"] += 1
        app_create(tenant_id=self.principal.tenant_id, name="written before the crash")
        raise RuntimeError("kaboom after a write")


class Ok(ApiView):
    product = ANY_PRODUCT

    def post(self, request):
        return Response({"ok": True})


urlpatterns = [
    path("v1/boom", Boom.as_view()),
    path("v1/ok", Ok.as_view()),
    path("", include("cpaas.urls")),
]
