"""Console routes under /console/. Rooms add pages in ``<room>/console_urls.py`` (included below)."""

import importlib

from django.urls import include, path
from django.views.generic import RedirectView

from cpaas.console import operator_views, team_views, views
from cpaas.console.nav import ROOMS

app_name = "console"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="console:home", permanent=False)),
    path("console/", views.home, name="home"),
    path("console/login", views.ConsoleLoginView.as_view(), name="login"),
    path("console/login/code", views.login_code, name="login-code"),
    path("console/logout", views.logout_view, name="logout"),
    path("console/account/two-factor", views.two_factor, name="two-factor"),
    path("console/settings", views.tenant_settings, name="settings"),
    path("console/no-tenant", views.no_tenant, name="no-tenant"),
    path("console/tenant", views.tenant_switch, name="tenant-switch"),
    path("console/apps", views.apps, name="apps"),
    path("console/apps/<str:app_id>/keys", views.keys, name="keys"),
    path("console/apps/<str:app_id>/keys/new", views.key_new, name="key-new"),
    path("console/apps/<str:app_id>/keys/<str:key_id>", views.key_row, name="key-row"),
    path("console/apps/<str:app_id>/keys/<str:key_id>/revoke", views.key_revoke, name="key-revoke"),
    path("console/audit", views.audit, name="audit"),
    path("console/team", team_views.team, name="team"),
    path("console/team/members/<str:member_id>/role", team_views.member_role, name="team-member-role"),
    path("console/team/members/<str:member_id>/remove", team_views.member_delete, name="team-member-remove"),
    path("console/team/invitations/<str:invitation_id>/revoke", team_views.invitation_delete,
         name="team-invitation-revoke"),
    path("console/invitations/<str:token>", team_views.invitation, name="invitation"),
    path("console/operator/tenants", operator_views.tenants, name="operator-tenants"),
    path("console/operator/tenants/<str:tenant_id>/suspend", operator_views.tenant_suspend_view,
         name="operator-tenant-suspend"),
    path("console/operator/tenants/<str:tenant_id>/resume", operator_views.tenant_resume_view,
         name="operator-tenant-resume"),
]

for _room, _prefix in ((room.module, room.prefix) for room in ROOMS):
    try:
        importlib.import_module(f"{_room}.console_urls")
    except ModuleNotFoundError as exc:
        if exc.name != f"{_room}.console_urls":
            raise
        continue
    urlpatterns.append(path(f"console/{_prefix}/", include(f"{_room}.console_urls")))
