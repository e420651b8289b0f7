"""The management API: /v1/me, /v1/apps, /v1/api-keys."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from cpaas.core.auth import ANY_PRODUCT
from cpaas.core.clientip import client_ip
from cpaas.core.errors import PermissionDenied
from cpaas.core.ids import account_sid
from cpaas.core.openapi import list_envelope
from cpaas.core.pagination import paginate
from cpaas.core.views import ApiView
from cpaas.tenants.keys import api_key_create, api_key_revoke
from cpaas.tenants.models import ApiKey, App, KeyMode
from cpaas.tenants.serializers import ApiKeyCreatedOut, ApiKeyIn, ApiKeyOut, AppIn, AppOut, IdentityOut
from cpaas.tenants.services import app_create


class MeView(ApiView):
    """Who am I: the calling key, its app and tenant. Any valid key may call it."""

    product = ANY_PRODUCT

    @extend_schema(operation_id="me_retrieve", responses={200: IdentityOut})
    def get(self, request):
        p = self.principal
        return Response(
            {
                "object": "identity",
                "key": {"id": p.key_id, "mode": p.mode, "access": p.access,
                        "products": list(p.products),
                        "expires_at": p.expires_at.isoformat() if p.expires_at else None},
                "app": p.app_id,
                "account_sid": account_sid(p.app_id),
                "tenant": p.tenant_id,
                "livemode": not p.is_test,
                "rate_limit": {"per_second": p.rate, "burst": p.burst},
            }
        )


class AppListView(ApiView):
    @extend_schema(operation_id="apps_list", responses={200: list_envelope(AppOut, "AppList")})
    def get(self, request):
        apps = self.scoped(App)
        return Response(paginate(request, apps, lambda rows: AppOut(rows, many=True).data))

    @extend_schema(operation_id="apps_create", request=AppIn, responses={201: AppOut})
    def post(self, request):
        data = AppIn(data=request.data)
        data.is_valid(raise_exception=True)
        app = app_create(tenant_id=self.principal.tenant_id, name=data.validated_data["name"],
                         actor_key_id=self.principal.key_id, ip=client_ip(request))
        return Response(AppOut(app).data, status=status.HTTP_201_CREATED)


class AppDetailView(ApiView):
    @extend_schema(operation_id="apps_retrieve", responses={200: AppOut})
    def get(self, request, app_id: str):
        app = self.get_scoped(App, app_id, message=f"No such app: {app_id}")
        return Response(AppOut(app).data)


class ApiKeyListView(ApiView):
    @extend_schema(operation_id="api_keys_list", responses={200: list_envelope(ApiKeyOut, "ApiKeyList")})
    def get(self, request):
        app_id = request.query_params.get("app")
        keys = self.scoped(ApiKey)  # the tenant's keys of the caller's mode only
        if app_id:
            self.get_scoped(App, app_id, message=f"No such app: {app_id}")
            keys = keys.filter(app_id=app_id)
        return Response(paginate(request, keys, lambda rows: ApiKeyOut(rows, many=True).data))

    @extend_schema(operation_id="api_keys_create", request=ApiKeyIn, responses={201: ApiKeyCreatedOut})
    def post(self, request):
        if isinstance(request.data, dict) and "rate_limit" in request.data:
            raise PermissionDenied("Only the platform operator sets a key's rate limit.",
                                   code="operator_only", param="rate_limit")
        data = ApiKeyIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        p = self.principal
        app_id = values.get("app", p.app_id)
        app: App = self.get_scoped(App, app_id, message=f"No such app: {app_id}")
        mode = values.get("mode", p.mode)
        if p.is_test and mode == KeyMode.LIVE:
            raise PermissionDenied("A test key cannot create live keys.", param="mode")
        created = api_key_create(
            app=app, name=values["name"], mode=mode, access=values["access"],
            products=values["products"], expires_at=values["expires_at"],
            actor_key_id=p.key_id, ip=client_ip(request),
        )
        body = ApiKeyCreatedOut(created.key, context={"secret": created.secret}).data
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyDetailView(ApiView):
    @extend_schema(operation_id="api_keys_retrieve", responses={200: ApiKeyOut})
    def get(self, request, key_id: str):
        key = self.get_scoped(ApiKey, key_id, message=f"No such API key: {key_id}")
        return Response(ApiKeyOut(key).data)

    @extend_schema(operation_id="api_keys_revoke", responses={200: ApiKeyOut})
    def delete(self, request, key_id: str):
        key = self.get_scoped(ApiKey, key_id, message=f"No such API key: {key_id}")
        key = api_key_revoke(key=key, actor_key_id=self.principal.key_id, ip=client_ip(request))
        return Response(ApiKeyOut(key).data)


