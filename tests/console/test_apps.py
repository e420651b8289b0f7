"""The apps page: list and create, own tenant only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cpaas.tenants.models import App, AuditLogEntry
from cpaas.twilio.sids import account_sid

pytestmark = pytest.mark.django_db


def test_the_apps_page_lists_the_tenants_apps_only(owner_client, app, other_app):
    response = owner_client.get(reverse("console:apps"))
    assert response.status_code == 200
    assert app.id.encode() in response.content
    assert other_app.id.encode() not in response.content
    assert reverse("console:keys", args=[app.id]).encode() in response.content
    # The Account SID of the Twilio-compatible API, beside the id it is made from.
    assert account_sid(app.id).encode() in response.content


def test_a_developer_can_create_an_app(developer, developer_client, tenant):
    response = developer_client.post(reverse("console:apps"), {"name": "Checkout"}, REMOTE_ADDR="203.0.113.9")
    created = App.objects.get(tenant=tenant, name="Checkout")
    assert response.status_code == 302
    assert response["Location"] == reverse("console:keys", args=[created.id])
    entry = AuditLogEntry.objects.get(action="app.created", target_id=created.id)
    assert entry.actor_user_id == developer.pk
    assert entry.ip == "203.0.113.9"
    assert entry.tenant_id == tenant.id


def test_creating_an_app_without_a_name_writes_nothing(owner_client, tenant):
    response = owner_client.post(reverse("console:apps"), {"name": "   "})
    assert response.status_code == 400
    assert b"field-error" in response.content
    assert App.objects.filter(tenant=tenant).count() == 1


def test_finance_cannot_see_or_create_apps(finance_client, tenant):
    assert finance_client.get(reverse("console:apps")).status_code == 403
    assert finance_client.post(reverse("console:apps"), {"name": "Nope"}).status_code == 403
    assert App.objects.filter(tenant=tenant).count() == 1


def test_the_apps_page_costs_a_fixed_number_of_queries(owner_client, tenant, django_assert_max_num_queries):
    from cpaas.tenants.services import app_create

    for i in range(5):
        app_create(tenant_id=tenant.id, name=f"App {i}")
    with django_assert_max_num_queries(12):
        response = owner_client.get(reverse("console:apps"))
    assert response.content.count(b"App ") >= 5


def test_the_apps_cap_is_a_form_error_in_the_console(owner_client, tenant, settings):
    settings.APPS_PER_TENANT = App.objects.filter(tenant=tenant).count()
    response = owner_client.post(reverse("console:apps"), {"name": "One too many"})
    assert response.status_code == 400
    assert b"the most it may" in response.content
    assert not App.objects.filter(tenant=tenant, name="One too many").exists()
