"""Logging in and out, the tenant switcher, CSRF."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from cpaas.console.access import SESSION_TENANT
from cpaas.tenants.models import Role
from cpaas.tenants.services import member_add, tenant_provision
from tests.console.conftest import PASSWORD, logged_in

pytestmark = pytest.mark.django_db

PAGES = ["console:home", "console:apps", "console:audit"]


def test_the_login_page_renders(client):
    response = client.get(reverse("console:login"))
    assert response.status_code == 200
    assert b"Log in" in response.content
    assert b"csrfmiddlewaretoken" in response.content


def test_it_logs_a_member_in_with_their_password(provisioned):
    client = Client(enforce_csrf_checks=True)
    page = client.get(reverse("console:login"))
    token = page.cookies["csrftoken"].value
    response = client.post(
        reverse("console:login"),
        {"username": "owner@acme.test", "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("console:home")
    home = client.get(reverse("console:home"))
    assert home.status_code == 200
    assert b"Acme" in home.content


def test_it_refuses_a_wrong_password(provisioned, client):
    response = client.post(reverse("console:login"), {"username": "owner@acme.test", "password": "nope"})
    assert response.status_code == 200
    assert b"correct" in response.content  # Django's "Please enter a correct username and password"
    assert "_auth_user_id" not in client.session


def test_passwords_are_stored_with_argon2(production_password_hashing, provisioned):
    user = get_user_model().objects.get(username="owner@acme.test")
    assert user.password.startswith("argon2$")


def test_logging_in_sends_the_member_back_where_they_were_going(provisioned, client):
    response = client.post(
        reverse("console:login") + "?next=/console/audit",
        {"username": "owner@acme.test", "password": PASSWORD, "next": "/console/audit"},
    )
    assert response["Location"] == "/console/audit"


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_visitors_are_sent_to_the_login_page(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("console:login") + "?next=")


def test_logout_needs_a_post(owner_client):
    assert owner_client.get(reverse("console:logout")).status_code == 405


def test_logout_ends_the_session(owner_client):
    response = owner_client.post(reverse("console:logout"))
    assert response.status_code == 302
    assert owner_client.get(reverse("console:home")).status_code == 302


def test_a_user_without_a_tenant_sees_the_no_tenant_page(db):
    user = get_user_model().objects.create_user(username="lonely@x.test", password=PASSWORD)
    client = logged_in(user)
    response = client.get(reverse("console:home"))
    assert response["Location"] == reverse("console:no-tenant")
    assert b"No tenant" in client.get(response["Location"]).content


def test_the_switcher_lists_only_the_members_tenants(owner_client, other_provisioned):
    response = owner_client.get(reverse("console:home"))
    assert b"Acme" in response.content
    assert b"Globex" not in response.content
    assert other_provisioned.tenant.id.encode() not in response.content


def test_a_member_of_two_tenants_can_switch_between_them(owner, owner_client, tenant):
    second = tenant_provision(name="Initech")
    member_add(tenant=second.tenant, user=owner, role=Role.DEVELOPER)
    page = owner_client.get(reverse("console:home"))
    assert b"Initech" in page.content
    response = owner_client.post(reverse("console:tenant-switch"), {"tenant": second.tenant.id})
    assert response.status_code == 302
    assert owner_client.session[SESSION_TENANT] == second.tenant.id
    home = owner_client.get(reverse("console:home"))
    assert b"<h1>Initech</h1>" in home.content
    # The role follows the tenant: a developer there, so no audit log.
    assert owner_client.get(reverse("console:audit")).status_code == 403
    owner_client.post(reverse("console:tenant-switch"), {"tenant": tenant.id})
    assert owner_client.get(reverse("console:audit")).status_code == 200


def test_switching_to_another_tenant_is_a_404(owner_client, tenant, other_provisioned):
    owner_client.get(reverse("console:home"))
    response = owner_client.post(reverse("console:tenant-switch"), {"tenant": other_provisioned.tenant.id})
    assert response.status_code == 404
    assert owner_client.session[SESSION_TENANT] == tenant.id
    assert owner_client.post(reverse("console:tenant-switch"), {"tenant": "ten_nonsense"}).status_code == 404


def test_a_stale_tenant_in_the_session_falls_back_to_a_real_membership(owner_client, tenant, other_provisioned):
    session = owner_client.session
    session[SESSION_TENANT] = other_provisioned.tenant.id
    session.save()
    response = owner_client.get(reverse("console:home"))
    assert b"<h1>Acme</h1>" in response.content
    assert b"Globex" not in response.content


def test_the_switcher_needs_a_post_and_a_login(owner_client, client, tenant):
    assert owner_client.get(reverse("console:tenant-switch")).status_code == 405
    response = client.post(reverse("console:tenant-switch"), {"tenant": tenant.id})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("console:login"))


def test_csrf_is_enforced_on_console_posts(owner, app):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(reverse("console:apps"), {"name": "X"}).status_code == 403
    assert client.post(reverse("console:key-new", args=[app.id]), {"name": "X", "mode": "test"}).status_code == 403
    key = app.api_keys.get()
    assert client.post(reverse("console:key-revoke", args=[app.id, key.id])).status_code == 403
    assert client.post(reverse("console:logout")).status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None
    assert app.tenant.apps.count() == 1


def test_an_htmx_request_after_the_session_ended_redirects_the_whole_page(client, app, provisioned):
    key = provisioned.test_key.key
    response = client.get(reverse("console:key-revoke", args=[app.id, key.id]), HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("console:login")
