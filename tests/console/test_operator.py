"""The operator's Tenants page: staff only (403 for every tenant role), search, suspend with a
reason and resume, audited with the operator; a suspended tenant's keys are refused at once."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from cpaas.console import operator_views
from cpaas.tenants.models import AuditLogEntry, Tenant
from cpaas.tenants.suspension import suspension_cache_clear
from tests.conftest import client_for
from tests.console.conftest import logged_in


@pytest.fixture(autouse=True)
def _fresh():
    suspension_cache_clear()
    yield
    suspension_cache_clear()


@pytest.fixture
def operator(db):
    return get_user_model().objects.create_user("ops@platform.test", password="pw-long-enough", is_staff=True)


@pytest.fixture
def operator_client(operator):
    return logged_in(operator)


def test_only_staff_open_the_tenants_page(owner_client, admin_client, operator_client, tenant):
    url = reverse("console:operator-tenants")
    assert owner_client.get(url).status_code == 403 and admin_client.get(url).status_code == 403
    assert owner_client.post(reverse("console:operator-tenant-suspend", args=[tenant.pk]),
                             {"reason": "x"}).status_code == 403
    assert Tenant.objects.get(pk=tenant.pk).suspended_at is None
    page = operator_client.get(url).content.decode()
    assert "Acme" in page and tenant.pk in page


def test_search_by_name_or_id(operator_client, tenant, other_provisioned):
    url = reverse("console:operator-tenants")
    assert "Globex" not in operator_client.get(url, {"q": "acm"}).content.decode()
    by_id = operator_client.get(url, {"q": other_provisioned.tenant.pk}).content.decode()
    assert "Globex" in by_id and ">Acme<" not in by_id


def test_the_operator_suspends_and_resumes_and_the_keys_follow(operator_client, operator, tenant, secret):
    api = client_for(secret)
    assert api.get("/v1/me").status_code == 200
    suspend = reverse("console:operator-tenant-suspend", args=[tenant.pk])
    assert operator_client.post(suspend, {"reason": ""}).status_code == 302  # refused: no reason
    assert Tenant.objects.get(pk=tenant.pk).suspended_at is None
    operator_client.post(suspend, {"reason": "chargeback"})
    assert api.get("/v1/me").json()["error"]["code"] == "tenant_suspended"
    entry = AuditLogEntry.objects.get(tenant=tenant, action="tenant.suspended")
    assert entry.actor_user_id == operator.pk and entry.metadata["reason"] == "chargeback"
    assert "Suspended" in operator_client.get(reverse("console:operator-tenants")).content.decode()
    operator_client.post(reverse("console:operator-tenant-resume", args=[tenant.pk]))
    assert api.get("/v1/me").status_code == 200


def test_the_pages_of_a_search_keep_the_search(operator_client, monkeypatch, db):
    monkeypatch.setattr(operator_views, "PAGE_SIZE", 1)
    for n in range(3):
        Tenant.objects.create(name=f"Acme {n}")
    page = operator_client.get(reverse("console:operator-tenants"), {"q": "acme 1"}).content.decode()
    assert page.count('<tr id="tenant-') == 1
    operator_client.get(reverse("console:operator-tenants"), {"q": "acme"})
    second = operator_client.get(reverse("console:operator-tenants"), {"q": "acme", "page": 2}).content.decode()
    assert "page=3&amp;q=acme" in second and "page=1&amp;q=acme" in second
