"""A tenant that requires two-factor sign-in: set by its owner, enforced on every console page."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from cpaas.core.management.demo import demo_ensure
from cpaas.tenants.models import AuditLogEntry, Tenant
from cpaas.tenants.services import member_add
from tests.console.conftest import PASSWORD, logged_in
from tests.console.test_two_factor import enrol

pytestmark = pytest.mark.django_db

SETTINGS = reverse("console:settings")
TWO_FACTOR = reverse("console:two-factor")
DEV = "dev@acme.test"
# The foundation's pages and every room's landing page.
PAGES = ["/console/", "/console/apps", "/console/audit", "/console/settings", "/console/sms/messages",
         "/console/im/", "/console/voice/", "/console/webhooks/", "/console/billing/"]


@pytest.fixture
def required(tenant):
    Tenant.objects.filter(pk=tenant.pk).update(require_two_factor=True)
    return tenant


def test_new_tenants_and_the_demo_tenant_do_not_require_it(tenant, tmp_path):
    assert tenant.require_two_factor is False
    assert demo_ensure(var_dir=tmp_path).tenant.require_two_factor is False


def test_the_owner_turns_the_requirement_on_and_it_is_audited(owner_client, owner, tenant):
    page = owner_client.get(SETTINGS)
    assert page.status_code == 200
    assert b"Require two-factor sign-in" in page.content
    response = owner_client.post(SETTINGS, {"require_two_factor": "on"})
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.require_two_factor is True
    entry = AuditLogEntry.objects.get(tenant=tenant, action="tenant.two_factor_required")
    assert entry.metadata == {"required": True}
    assert entry.actor_user_id == owner.pk


def test_saving_the_same_value_again_writes_no_audit_entry(owner_client, tenant):
    owner_client.post(SETTINGS, {})
    assert not AuditLogEntry.objects.filter(tenant=tenant, action="tenant.two_factor_required").exists()


@pytest.mark.parametrize("who", ["developer_client", "finance_client"])
def test_only_the_owner_may_change_it(request, tenant, who):
    client = request.getfixturevalue(who)
    assert client.post(SETTINGS, {"require_two_factor": "on"}).status_code == 403
    tenant.refresh_from_db()
    assert tenant.require_two_factor is False


def test_a_member_without_a_device_logs_in_and_is_sent_to_enrol(required, developer):
    client = Client()
    response = client.post(reverse("console:login"), {"username": DEV, "password": PASSWORD})
    assert response.status_code == 302
    home = client.get(response["Location"])
    assert home.status_code == 302
    assert home["Location"] == TWO_FACTOR
    enrol_page = client.get(TWO_FACTOR)
    assert enrol_page.status_code == 200
    assert b"Your tenant requires two-factor sign-in" in enrol_page.content
    assert b"Apps &amp; API keys" not in enrol_page.content  # no way around it from the page


@pytest.mark.parametrize("path", PAGES)
def test_every_console_page_sends_them_to_enrol(required, owner, path):
    response = logged_in(owner).get(path)
    assert response.status_code == 302
    assert response["Location"] == TWO_FACTOR


def test_htmx_requests_are_sent_to_enrol_as_a_whole_page(required, developer, app):
    response = logged_in(developer).get(reverse("console:keys", args=[app.id]), HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"] == TWO_FACTOR


def test_after_enrolling_the_pages_open(required, developer):
    client = logged_in(developer)
    enrol(client, developer)
    assert client.get("/console/apps").status_code == 200


def test_switching_to_a_tenant_that_requires_it_sends_them_to_enrol(developer, other_provisioned):
    strict = other_provisioned.tenant
    Tenant.objects.filter(pk=strict.pk).update(require_two_factor=True)
    member_add(tenant=strict, user=developer, role="developer")
    client = logged_in(developer)
    assert client.get("/console/apps").status_code == 200
    client.post(reverse("console:tenant-switch"), {"tenant": strict.id})
    assert client.get("/console/apps")["Location"] == TWO_FACTOR


def test_another_tenants_rule_does_not_apply(required, other_provisioned):
    client = logged_in(other_provisioned.user)
    assert client.get("/console/").status_code == 200
