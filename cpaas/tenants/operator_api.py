"""The operator's API (platform staff, not tenants): /v1/operator/tenants — list and search, suspend,
resume. Authenticated by an operator token (``OPERATOR_API_TOKENS``); a tenant's API key gets 403
``operator_only``. Not in the tenants' OpenAPI document. Decision 1303.
"""

from __future__ import annotations

from django.db.models import Count, Q
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from cpaas.core.auth import IsOperator, OperatorAuthentication
from cpaas.core.errors import NotFound
from cpaas.core.pagination import paginate
from cpaas.core.serializers import StrictSerializer
from cpaas.tenants.models import Tenant
from cpaas.tenants.suspension import tenant_resume, tenant_suspend


class TenantOut(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()
    suspended = serializers.SerializerMethodField()
    members = serializers.IntegerField(default=None)

    class Meta:
        model = Tenant
        fields = ["id", "object", "name", "suspended", "suspended_at", "suspended_reason", "members", "created_at"]

    def get_object(self, _obj) -> str:
        return "tenant"

    def get_suspended(self, obj) -> bool:
        return obj.suspended_at is not None


class SuspendIn(StrictSerializer):
    reason = serializers.CharField(max_length=500)


@extend_schema(exclude=True)
class OperatorView(APIView):
    authentication_classes = [OperatorAuthentication]
    permission_classes = [IsOperator]

    def actor(self) -> str:
        return f"operator API (token …{self.request.user.token_hint})"

    def tenant(self, tenant_id: str) -> Tenant:
        tenant = Tenant.objects.filter(pk=tenant_id).first()
        if tenant is None:
            raise NotFound(f"No such tenant: {tenant_id}", param="tenant_id")
        return tenant


class TenantListView(OperatorView):
    def get(self, request):
        rows = Tenant.objects.annotate(members=Count("memberships", distinct=True))
        query = request.query_params.get("q", "").strip()[:200]
        if query:
            rows = rows.filter(Q(name__icontains=query) | Q(pk=query))
        return Response(paginate(request, rows, lambda page: TenantOut(page, many=True).data))


class TenantSuspendView(OperatorView):
    def post(self, request, tenant_id: str):
        tenant = self.tenant(tenant_id)
        data = SuspendIn(data=request.data)
        data.is_valid(raise_exception=True)
        tenant_suspend(tenant=tenant, reason=data.validated_data["reason"], actor=self.actor())
        return Response(TenantOut(tenant).data)


class TenantResumeView(OperatorView):
    def post(self, request, tenant_id: str):
        tenant = self.tenant(tenant_id)
        tenant_resume(tenant=tenant, actor=self.actor())
        return Response(TenantOut(tenant).data)
