"""The management API: /v1/me, /v1/apps, /v1/api-keys, and the team: /v1/members, /v1/invitations.

On the team endpoints a key acts with the role ``permissions.key_role`` gives it: a live full-access
key without product restriction as an admin, a live read-only one as a viewer. A test key is refused
(403 ``live_key_required``: the team is live business, and sandbox keys live in CI and on laptops),
and so is a product-restricted key (403 ``permission_denied``). Members and invitations belong to
the tenant, not to a mode (``Scoping.tenant(mode=SHARED)``): another tenant's are a 404
(decision 1300).
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from cpaas.core.auth import ANY_PRODUCT
from cpaas.core.clientip import client_ip
from cpaas.core.errors import ApiError, PermissionDenied
from cpaas.core.ids import account_sid
from cpaas.core.openapi import list_envelope
from cpaas.core.pagination import paginate
from cpaas.core.views import ApiView
from cpaas.tenants.keys import api_key_create, api_key_revoke
from cpaas.tenants.models import ApiKey, App, Invitation, KeyMode, Membership
from cpaas.tenants.permissions import Perm, key_role
from cpaas.tenants.serializers import (
    ApiKeyCreatedOut,
    ApiKeyIn,
    ApiKeyOut,
    AppIn,
    AppOut,
    IdentityOut,
    InvitationIn,
    InvitationOut,
    MemberOut,
    MemberRemovedOut,
    RoleIn,
)
from cpaas.tenants.services import app_create
from cpaas.tenants.team import Actor, invitation_create, invitation_revoke, member_remove, member_set_role


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


# --- The team ---------------------------------------------------------------------------------------


class TeamView(ApiView):
    product = ANY_PRODUCT  # who may call is decided by ``actor`` below, from the permission table

    def actor(self, perm: str) -> Actor:
        p = self.principal
        if p.is_test:
            raise ApiError("The team is managed with a live key: a test key cannot read or change it.",
                           code="live_key_required")
        role = key_role(mode=p.mode, access=p.access, products=p.products)
        if role is None:
            raise PermissionDenied("The team needs a live key without product restriction.")
        actor = Actor(role=role, key_id=p.key_id, ip=client_ip(self.request))
        actor.require(perm, "This API key cannot do that: it needs a full-access live key.")
        return actor

    def base_url(self) -> str:
        return settings.PUBLIC_BASE_URL or self.request.build_absolute_uri("/").rstrip("/")

    def invite(self, request) -> Response:
        actor = self.actor(Perm.TEAM_WRITE)
        data = InvitationIn(data=request.data)
        data.is_valid(raise_exception=True)
        invitation = invitation_create(tenant_id=self.principal.tenant_id, email=data.validated_data["email"],
                                       role=data.validated_data["role"], actor=actor, base_url=self.base_url())
        return Response(InvitationOut(invitation).data, status=status.HTTP_201_CREATED)


def _members(view: TeamView):
    return view.scoped(Membership).select_related("user")


class MemberListView(TeamView):
    @extend_schema(operation_id="members_list", responses={200: list_envelope(MemberOut, "MemberList")})
    def get(self, request):
        self.actor(Perm.TEAM_READ)
        return Response(paginate(request, _members(self), lambda rows: MemberOut(rows, many=True).data))

    @extend_schema(operation_id="members_invite", request=InvitationIn, responses={201: InvitationOut},
                   description="Invite someone by email: the same as POST /v1/invitations. They become a "
                               "member when they accept the emailed link.")
    def post(self, request):
        return self.invite(request)


class MemberDetailView(TeamView):
    def member(self, member_id: str) -> Membership:
        return self.get_scoped(Membership, member_id, queryset=_members(self), message=f"No such member: {member_id}")

    @extend_schema(operation_id="members_retrieve", responses={200: MemberOut})
    def get(self, request, member_id: str):
        self.actor(Perm.TEAM_READ)
        return Response(MemberOut(self.member(member_id)).data)

    @extend_schema(operation_id="members_update", request=RoleIn, responses={200: MemberOut})
    def patch(self, request, member_id: str):
        actor = self.actor(Perm.TEAM_WRITE)
        membership = self.member(member_id)
        data = RoleIn(data=request.data)
        data.is_valid(raise_exception=True)
        membership = member_set_role(membership=membership, role=data.validated_data["role"], actor=actor)
        return Response(MemberOut(membership).data)

    @extend_schema(operation_id="members_remove", responses={200: MemberRemovedOut})
    def delete(self, request, member_id: str):
        actor = self.actor(Perm.TEAM_WRITE)
        membership = self.member(member_id)
        member_remove(membership=membership, actor=actor)
        return Response(MemberRemovedOut(membership).data)


def _invitations(view: TeamView):
    return view.scoped(Invitation).select_related("invited_by")


class InvitationListView(TeamView):
    @extend_schema(operation_id="invitations_list", responses={200: list_envelope(InvitationOut, "InvitationList")})
    def get(self, request):
        self.actor(Perm.TEAM_READ)
        return Response(paginate(request, _invitations(self), lambda rows: InvitationOut(rows, many=True).data))

    @extend_schema(operation_id="invitations_create", request=InvitationIn, responses={201: InvitationOut})
    def post(self, request):
        return self.invite(request)


class InvitationDetailView(TeamView):
    def invitation(self, invitation_id: str) -> Invitation:
        return self.get_scoped(Invitation, invitation_id, queryset=_invitations(self),
                               message=f"No such invitation: {invitation_id}")

    @extend_schema(operation_id="invitations_retrieve", responses={200: InvitationOut})
    def get(self, request, invitation_id: str):
        self.actor(Perm.TEAM_READ)
        return Response(InvitationOut(self.invitation(invitation_id)).data)

    @extend_schema(operation_id="invitations_revoke", responses={200: InvitationOut})
    def delete(self, request, invitation_id: str):
        actor = self.actor(Perm.TEAM_WRITE)
        invitation = invitation_revoke(invitation=self.invitation(invitation_id), actor=actor)
        return Response(InvitationOut(invitation).data)
