"""/v1/operator/tenants: the operator's token lists, searches, suspends and resumes; a tenant's key
(any key, any mode) gets 403 operator_only and changes nothing; anything else is the one 401."""

from __future__ import annotations

import pytest

from cpaas.tenants.keys import api_key_create
from cpaas.tenants.models import AuditLogEntry, Tenant
from cpaas.tenants.suspension import suspension_cache_clear
from tests.conftest import client_for

TOKEN = "op_" + "x" * 40


@pytest.fixture(autouse=True)
def _operator_token(settings):
    settings.OPERATOR_API_TOKENS = [TOKEN]
    suspension_cache_clear()
    yield
    suspension_cache_clear()


@pytest.fixture
def operator():
    return client_for(TOKEN)


def test_the_operator_lists_and_searches_tenants(operator, tenant, other_provisioned):
    names = {t["name"] for t in operator.get("/v1/operator/tenants").json()["data"]}
    assert names == {"Acme", "Globex"}
    found = operator.get("/v1/operator/tenants", {"q": "glob"}).json()["data"]
    assert [t["id"] for t in found] == [other_provisioned.tenant.pk] and found[0]["members"] == 1


def test_the_operator_suspends_and_resumes_and_the_tenants_keys_follow(operator, tenant, api):
    assert api.get("/v1/me").status_code == 200
    body = operator.post(f"/v1/operator/tenants/{tenant.pk}/suspend", {"reason": "unpaid"}, format="json").json()
    assert body["suspended"] is True and body["suspended_reason"] == "unpaid"
    assert api.get("/v1/me").json()["error"]["code"] == "tenant_suspended"
    assert "…xxxx" in AuditLogEntry.objects.get(action="tenant.suspended").metadata["by"]
    assert operator.post(f"/v1/operator/tenants/{tenant.pk}/resume").json()["suspended"] is False
    assert api.get("/v1/me").status_code == 200


@pytest.mark.parametrize("mode", ["test", "live"])
def test_a_tenant_key_on_an_operator_endpoint_is_403_operator_only(app, tenant, mode):
    tenant_key = client_for(api_key_create(app=app, name="k", mode=mode).secret)
    for response in (tenant_key.get("/v1/operator/tenants"),
                     tenant_key.post(f"/v1/operator/tenants/{tenant.pk}/suspend", {"reason": "x"}, format="json"),
                     tenant_key.post(f"/v1/operator/tenants/{tenant.pk}/resume")):
        assert response.status_code == 403 and response.json()["error"]["code"] == "operator_only"
    assert Tenant.objects.get(pk=tenant.pk).suspended_at is None


def test_no_token_or_a_wrong_one_is_401(anon, tenant):
    assert anon.get("/v1/operator/tenants").status_code == 401
    wrong = client_for("op_" + "y" * 40).post(f"/v1/operator/tenants/{tenant.pk}/suspend", {"reason": "x"},
                                              format="json")
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "authentication_failed"


def test_an_unknown_tenant_is_a_404(operator, db):
    assert operator.post("/v1/operator/tenants/ten_nope/suspend", {"reason": "x"}, format="json").status_code == 404
    assert operator.post("/v1/operator/tenants/ten_nope/resume").status_code == 404


def test_a_reason_is_required(operator, tenant):
    error = operator.post(f"/v1/operator/tenants/{tenant.pk}/suspend", {}, format="json").json()["error"]
    assert error["param"] == "reason"
