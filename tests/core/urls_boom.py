"""A URLconf with views that fail on purpose, for the error-envelope tests."""

from django.db import OperationalError, transaction
from django.http import HttpResponse
from django.urls import include, path
from redis.exceptions import ConnectionError as RedisConnectionError
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


class BrokerLostAfterCommit(ApiView):
    """Writes, then a post-commit hook fails as an enqueue does when the broker is gone."""

    product = ANY_PRODUCT

    def post(self, request):
        app = app_create(tenant_id=self.principal.tenant_id, name="committed before the hook")

        def enqueue() -> None:
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

        transaction.on_commit(enqueue)
        return Response({"id": app.pk}, status=201)


class RedisDown(ApiView):
    product = ANY_PRODUCT

    def get(self, request):
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")


def plain_view_database_down(request) -> HttpResponse:
    """A plain Django view (no DRF), as the carrier and Stripe callbacks are."""
    raise OperationalError("connection to server at 127.0.0.1 port 1 failed: Connection refused")


urlpatterns = [
    path("v1/boom", Boom.as_view()),
    path("v1/redis-down", RedisDown.as_view()),
    path("v1/plain-db-down", plain_view_database_down),
    path("v1/ok", Ok.as_view()),
    path("v1/broker-lost-after-commit", BrokerLostAfterCommit.as_view()),
    path("", include("cpaas.urls")),
]
