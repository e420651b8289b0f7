"""Each role in the console: the nav shows what the permission table allows, the page hides the
controls the role lacks, and the server refuses them (403) anyway."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cpaas.tenants.keys import api_key_create
from cpaas.tenants.models import ApiKey, App
from cpaas.tenants.permissions import Perm, role_allows
from tests.console.test_audit_and_nav import nav

PAGES = {  # a page of each area, and the permission it needs
    "/console/apps": Perm.APPS_READ,
    "/console/sms/": Perm.CHANNELS_READ,
    "/console/webhooks/": Perm.CHANNELS_READ,
    "/console/billing/": Perm.BILLING_READ,
    "/console/team": Perm.TEAM_READ,
    "/console/audit": Perm.AUDIT_READ,
    "/console/settings": Perm.SETTINGS_WRITE,
}
ROLES = {"owner": "owner_client", "admin": "admin_client", "developer": "developer_client",
         "finance": "finance_client", "viewer": "viewer_client"}


@pytest.mark.parametrize("role", list(ROLES))
def test_every_role_reaches_exactly_the_pages_its_permissions_allow(request, role):
    client = request.getfixturevalue(ROLES[role])
    for url, perm in PAGES.items():
        status = client.get(url, follow=True).status_code
        assert (status == 200) == role_allows(role, perm), (role, url, status)
        assert status in (200, 403), (role, url, status)


@pytest.mark.parametrize("role", list(ROLES))
def test_the_nav_links_only_pages_the_role_may_open(request, role):
    client = request.getfixturevalue(ROLES[role])
    links = nav(client.get("/console/", follow=True))
    for url, perm in PAGES.items():
        assert (f'href="{url}"' in links) == role_allows(role, perm), (role, url)


def test_a_finance_user_sees_billing_only(finance_client):
    assert finance_client.get("/console/")["Location"] == "/console/billing/"
    links = nav(finance_client.get("/console/billing/"))
    assert links.count("<a ") == 1 and 'href="/console/billing/"' in links


def test_a_viewer_reads_keys_but_cannot_create_or_revoke_them(viewer_client, app):
    key = api_key_create(app=app, name="Live", mode="live").key
    page = viewer_client.get(reverse("console:keys", args=[app.id])).content.decode()
    assert key.redacted in page
    assert "Create API key" not in page and ">Revoke<" not in page
    apps_page = viewer_client.get(reverse("console:apps")).content.decode()
    assert "Create an app" not in apps_page
    assert viewer_client.get(reverse("console:key-new", args=[app.id])).status_code == 403
    created = viewer_client.post(reverse("console:key-new", args=[app.id]),
                                 {"name": "x", "mode": "test", "access": "full", "expires": "never"})
    assert created.status_code == 403
    assert viewer_client.post(reverse("console:key-revoke", args=[app.id, key.id])).status_code == 403
    assert viewer_client.post(reverse("console:apps"), {"name": "Nope"}).status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None and ApiKey.objects.filter(app=app).count() == 2
    assert not App.objects.filter(name="Nope").exists()


def test_a_viewer_cannot_act_on_channel_pages(viewer_client, app):
    response = viewer_client.post(f"/console/voice/apps/{app.id}/signing-secret/test/rotate")
    assert response.status_code == 403
    assert "Rotate" not in viewer_client.get("/console/voice/").content.decode()


def test_an_admin_sees_the_audit_log_but_not_the_security_settings(admin_client):
    assert "Recent activity" in admin_client.get("/console/").content.decode()
    assert admin_client.get("/console/settings").status_code == 403
    assert admin_client.post("/console/settings", {"require_two_factor": "on"}).status_code == 403
