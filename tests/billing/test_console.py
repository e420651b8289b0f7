"""Billing console pages: finance and owners see them, developers do not; isolation; plan editor."""

import json
from datetime import date

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from billing.invoices import invoice_finalize, invoice_refresh
from billing.models import PlanVersion
from cpaas.tenants.services import member_add

from .conftest import at, make_plan, use


def member(tenant, role, name, staff=False):
    user = get_user_model().objects.create_user(username=name, email=f"{name}@acme.test", password="pw-12345678",
                                                is_staff=staff)
    member_add(tenant=tenant, user=user, role=role)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def finance(tenant):
    return member(tenant, "finance", "fin")


@pytest.fixture
def invoice(tenant, app):
    make_plan(tenant, fixed_fee="10")
    use(app, "sms_segments", 3, at(2026, 10, 3))
    draft = invoice_refresh(tenant_id=tenant.pk, period_start=date(2026, 10, 1))
    return invoice_finalize(tenant_id=tenant.pk, invoice_id=draft.pk, now=at(2026, 11, 1, 13))


def test_finance_sees_usage_and_invoices_with_downloads(finance, invoice):
    assert finance.get("/console/billing/").status_code == 200
    page = finance.get("/console/billing/invoices").content.decode()
    assert invoice.number in page
    pdf = finance.get(f"/console/billing/invoices/{invoice.pk}.pdf")
    assert pdf.content.startswith(b"%PDF")
    assert finance.get(f"/console/billing/invoices/{invoice.pk}.csv").status_code == 200


def test_a_developer_cannot_see_billing(tenant):
    developer = member(tenant, "developer", "dev")
    assert developer.get("/console/billing/").status_code == 403


def test_anonymous_visitors_go_to_the_login_page():
    response = Client().get("/console/billing/invoices")
    assert response.status_code == 302
    assert "/console/login" in response["Location"]


def test_another_tenants_invoice_cannot_be_downloaded(other_provisioned, invoice):
    theirs = member(other_provisioned.tenant, "finance", "globex-fin")
    assert theirs.get(f"/console/billing/invoices/{invoice.pk}.pdf").status_code == 404


def test_only_the_operator_edits_plans(finance, tenant):
    assert finance.get("/console/billing/plans").status_code == 403
    operator = member(tenant, "owner", "op", staff=True)
    assert operator.get("/console/billing/plans").status_code == 200


def test_the_plan_editor_warns_about_volume_cliffs_and_refuses_bad_tiers(tenant):
    operator = member(tenant, "owner", "op", staff=True)
    cliff = [{"meter": "sms_segments", "model": "volume", "tiers": [
        {"up_to": 1000, "unit_price": "0.05"}, {"up_to": None, "unit_price": "0.04"}]}]
    response = operator.post("/console/billing/plans", {"code": "p", "charges": json.dumps(cliff), "action": "check"})
    assert "cliff" in response.content.decode()
    bad = [{"meter": "sms_segments", "model": "graduated", "tiers": [
        {"up_to": 1000, "unit_price": "0.05"}, {"up_to": 500, "unit_price": "0.04"}, {"up_to": None}]}]
    response = operator.post("/console/billing/plans", {"code": "p", "charges": json.dumps(bad), "action": "save"})
    assert response.status_code == 400
    assert "charges[0].tiers[1]" in response.content.decode()
    saved = operator.post("/console/billing/plans", {"code": "p", "charges": json.dumps(cliff), "action": "save",
                                                     "tenant": tenant.pk})
    assert saved.status_code == 200
    assert PlanVersion.objects.filter(plan__code="p").count() == 1
