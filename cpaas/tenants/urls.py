from django.urls import path

from cpaas.tenants import api, operator_api

urlpatterns = [
    path("me", api.MeView.as_view(), name="me"),
    path("apps", api.AppListView.as_view(), name="apps"),
    path("apps/<str:app_id>", api.AppDetailView.as_view(), name="app-detail"),
    path("api-keys", api.ApiKeyListView.as_view(), name="api-keys"),
    path("api-keys/<str:key_id>", api.ApiKeyDetailView.as_view(), name="api-key-detail"),
    path("members", api.MemberListView.as_view(), name="members"),
    path("members/<str:member_id>", api.MemberDetailView.as_view(), name="member-detail"),
    path("invitations", api.InvitationListView.as_view(), name="invitations"),
    path("invitations/<str:invitation_id>", api.InvitationDetailView.as_view(), name="invitation-detail"),
    path("operator/tenants", operator_api.TenantListView.as_view(), name="operator-tenants"),
    path("operator/tenants/<str:tenant_id>/suspend", operator_api.TenantSuspendView.as_view(),
         name="operator-tenant-suspend"),
    path("operator/tenants/<str:tenant_id>/resume", operator_api.TenantResumeView.as_view(),
         name="operator-tenant-resume"),
]
