"""Billing's /v1 endpoints: import, void, usage charts, invoices (JSON/PDF/CSV), credit notes,
upcoming — each with isolation and bad-input tests."""

from datetime import date
from decimal import Decimal as D

import pytest
import time_machine

from billing.invoices import credit_note_create, invoice_finalize, invoice_refresh
from billing.models import UsageEvent

from .conftest import at, make_plan, use

OCT = date(2026, 10, 1)
NOW = at(2026, 10, 20, 12)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


def event(**overrides):
    body = {"meter": "sms_segments", "quantity": "2", "occurred_at": "2026-10-03T10:00:00Z",
            "idempotency_key": "imp-1", "dimensions": {"country": "GB"}}
    body.update(overrides)
    return body


def test_the_operator_imports_a_batch_of_usage(api, app):
    events = [event(idempotency_key=f"k{i}") for i in range(50)]
    response = api.post("/v1/usage-events", {"events": events}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == {"object": "usage_import", "received": 50, "inserted": 50, "duplicates": 0}
    again = api.post("/v1/usage-events", {"events": events[:10]}, format="json")
    assert again.json()["duplicates"] == 10
    assert UsageEvent.objects.filter(app=app).count() == 50


@pytest.mark.parametrize(("overrides", "code", "param"), [
    ({"meter": "bananas"}, "unknown_meter", "events[1].meter"),
    ({"quantity": "-3"}, "invalid_quantity", "events[1].quantity"),
    ({"quantity": "three"}, "invalid_quantity", "events[1].quantity"),
    ({"quantity": 1.5}, "invalid_quantity", "events[1].quantity"),
    ({"occurred_at": "yesterday"}, "invalid_request", "events[1].occurred_at"),
    ({"occurred_at": "2026-10-03T10:00:00"}, "invalid_request", "events[1].occurred_at"),
    ({"occurred_at": "2027-01-01T00:00:00Z"}, "invalid_request", "events[1].occurred_at"),
    ({"idempotency_key": ""}, "invalid_request", "events[1].idempotency_key"),
    ({"colour": "red"}, "invalid_request", "events[1].colour"),
    ({"dimensions": ["GB"]}, "invalid_request", "events[1].dimensions"),
])
def test_a_bad_event_refuses_the_whole_batch(api, app, overrides, code, param):
    response = api.post("/v1/usage-events", {"events": [event(idempotency_key="ok"), event(**overrides)]},
                        format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert not UsageEvent.objects.exists()


def test_a_reused_key_with_other_content_is_a_409(api, app):
    api.post("/v1/usage-events", {"events": [event()]}, format="json")
    response = api.post("/v1/usage-events", {"events": [event(quantity="5")]}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "usage_key_conflict"


def test_an_import_is_limited_to_10000_events(api):
    response = api.post("/v1/usage-events", {"events": [event()] * 10001}, format="json")
    assert (response.status_code, response.json()["error"]["param"]) in {(400, "events"), (413, None)}


def test_voiding_usage_via_the_api_and_isolation(api, other_api, app):
    use(app, "sms_segments", 3, at(2026, 10, 3), key="v")
    event_id = UsageEvent.objects.get().pk
    assert other_api.post(f"/v1/usage-events/{event_id}/void", {"reason": "x"}, format="json").status_code == 404
    missing = api.post(f"/v1/usage-events/{event_id}/void", {}, format="json")
    assert missing.json()["error"]["param"] == "reason"
    response = api.post(f"/v1/usage-events/{event_id}/void", {"reason": "duplicate CDR"}, format="json")
    assert response.status_code == 200
    assert response.json()["void_reason"] == "duplicate CDR"


def test_usage_for_charts_by_day_month_and_dimension(api, other_api, app):
    for day, country, qty in ((3, "GB", 2), (3, "FR", 1), (4, "GB", 5)):
        use(app, "sms_segments", qty, at(2026, 10, day), country=country)
    for n, day in ((1, 3), (2, 3), (1, 4)):
        use(app, "im_dau", 1, at(2026, 10, day), subject=f"u{n}")
    by_day = api.get("/v1/usage", {"meter": "sms_segments", "from": "2026-10-01", "to": "2026-10-31"}).json()
    assert by_day["data"] == [{"period": "2026-10-03", "quantity": "3"}, {"period": "2026-10-04", "quantity": "5"}]
    grouped = api.get("/v1/usage", {"meter": "sms_segments", "from": "2026-10-01", "to": "2026-10-31",
                                    "granularity": "month", "group_by": "country"}).json()
    assert grouped["data"] == [{"period": "2026-10-01", "group": "FR", "quantity": "1"},
                               {"period": "2026-10-01", "group": "GB", "quantity": "7"}]
    dau = api.get("/v1/usage", {"meter": "im_dau", "from": "2026-10-01", "to": "2026-10-31"}).json()
    assert [row["quantity"] for row in dau["data"]] == ["2", "1"]
    theirs = other_api.get("/v1/usage", {"meter": "sms_segments", "from": "2026-10-01", "to": "2026-10-31"}).json()
    assert theirs["data"] == []


@pytest.mark.parametrize(("params", "code", "param"), [
    ({}, "invalid_request", "meter"),
    ({"meter": "bananas"}, "unknown_meter", "meter"),
    ({"meter": "sms_segments", "from": "last week"}, "invalid_request", "from"),
    ({"meter": "sms_segments", "from": "2026-10-05", "to": "2026-10-01"}, "invalid_request", "to"),
    ({"meter": "sms_segments", "granularity": "hour"}, "invalid_request", "granularity"),
    ({"meter": "im_dau", "group_by": "country"}, "invalid_request", "group_by"),
])
def test_usage_refuses_bad_queries(api, params, code, param):
    response = api.get("/v1/usage", params)
    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == (code, param)


@pytest.fixture
def finalized(tenant, app):
    make_plan(tenant, fixed_fee="10", charges=[{"meter": "sms_segments", "model": "graduated", "tiers": [
        {"up_to": 100, "unit_price": "0.05"}, {"up_to": None, "unit_price": "0.04"}]}])
    use(app, "sms_segments", 150, at(2026, 10, 3))
    invoice = invoice_refresh(tenant_id=tenant.pk, period_start=OCT)
    return invoice_finalize(tenant_id=tenant.pk, invoice_id=invoice.pk, now=at(2026, 11, 1, 13))


def test_invoices_list_and_detail(live_api, finalized):
    listed = live_api.get("/v1/invoices").json()
    assert [row["number"] for row in listed["data"]] == ["INV-2026-000001"]
    detail = live_api.get(f"/v1/invoices/{finalized.pk}").json()
    # 10.00 fee + 100 x 0.05 + 50 x 0.04 = 17.00
    assert (detail["status"], detail["total"]) == ("open", "17.00")
    assert [line["amount"] for line in detail["lines"]] == ["10.00", "7.00"]
    assert len(detail["lines"][1]["tiers"]) == 2


def test_another_tenants_invoice_is_a_404_in_every_format(other_api, finalized):
    for suffix in ("", ".pdf", ".csv"):
        response = other_api.get(f"/v1/invoices/{finalized.pk}{suffix}")
        assert response.status_code == 404, suffix
    assert other_api.get("/v1/invoices").json()["data"] == []


def test_the_invoice_csv_carries_the_stored_figures(live_api, finalized):
    response = live_api.get(f"/v1/invoices/{finalized.pk}.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = response.content.decode().splitlines()
    assert rows[0].startswith("invoice_id,invoice_number,position")
    assert rows[-1].split(",")[8] == "17.00"


def test_the_invoice_pdf_is_a_pdf_with_the_legal_content(live_api, finalized):
    from billing.exports import invoice_html

    html = invoice_html(finalized)
    for needle in ("INV-2026-000001", "Supply period", "VAT ID", "Subtotal", "17.00"):
        assert needle in html
    response = live_api.get(f"/v1/invoices/{finalized.pk}.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_credit_notes_list_and_isolation(live_api, other_api, tenant, finalized):
    note = credit_note_create(tenant_id=tenant.pk, invoice_id=finalized.pk, amount="2.00", reason="goodwill")
    listed = live_api.get("/v1/credit-notes").json()["data"]
    assert [(row["number"], row["total"]) for row in listed] == [(note.number, "2.00")]
    assert live_api.get(f"/v1/credit-notes/{note.pk}").status_code == 200
    assert other_api.get(f"/v1/credit-notes/{note.pk}").status_code == 404
    assert other_api.get("/v1/credit-notes").json()["data"] == []


def test_the_upcoming_invoice(live_api, other_api, tenant, app):
    make_plan(tenant, charges=[{"meter": "sms_segments", "model": "per_unit", "unit_price": "0.10"}])
    use(app, "sms_segments", 4, at(2026, 10, 9))
    body = live_api.get("/v1/invoices/upcoming").json()
    assert (body["total"], body["period_start"]) == ("0.40", "2026-10-01")
    assert other_api.get("/v1/invoices/upcoming").status_code == 404


def test_invoices_are_live_money_a_test_key_sees_none(api, tenant, finalized):
    note = credit_note_create(tenant_id=tenant.pk, invoice_id=finalized.pk, amount="1.00", reason="goodwill")
    assert api.get("/v1/invoices").json()["data"] == []
    assert api.get("/v1/credit-notes").json()["data"] == []
    for path in (f"/v1/invoices/{finalized.pk}", f"/v1/invoices/{finalized.pk}.pdf",
                 f"/v1/invoices/{finalized.pk}.csv", f"/v1/credit-notes/{note.pk}", "/v1/invoices/upcoming"):
        assert api.get(path).status_code == 404, path


def test_anonymous_callers_are_refused(anon):
    assert anon.get("/v1/invoices").status_code == 401
    assert anon.post("/v1/usage-events", {"events": [event()]}, format="json").status_code == 401


def test_amounts_are_decimal_strings(live_api, finalized):
    detail = live_api.get(f"/v1/invoices/{finalized.pk}").json()
    assert isinstance(detail["total"], str)
    assert D(detail["subtotal"]) + D(detail["tax"]) == D(detail["total"])


def test_the_dau_drill_down_lists_who_was_active_on_a_day(api, other_api, app):
    for name in ("carol", "alice", "bob"):
        use(app, "im_dau", 1, at(2026, 10, 3, 9), subject=name)
    use(app, "im_dau", 1, at(2026, 10, 4, 9), subject="dave")
    page = api.get("/v1/usage/active-subjects", {"day": "2026-10-03", "limit": 2}).json()
    assert ([row["subject"] for row in page["data"]], page["has_more"]) == (["alice", "bob"], True)
    rest = api.get("/v1/usage/active-subjects", {"day": "2026-10-03", "starting_after": "bob"}).json()
    assert [row["subject"] for row in rest["data"]] == ["carol"]
    assert other_api.get("/v1/usage/active-subjects", {"day": "2026-10-03"}).json()["data"] == []
    bad = api.get("/v1/usage/active-subjects", {"meter": "sms_segments", "day": "2026-10-03"}).json()["error"]
    assert (bad["code"], bad["param"]) == ("unknown_meter", "meter")
    assert api.get("/v1/usage/active-subjects").json()["error"]["param"] == "day"
