"""Every decimal is written in plain notation at a fixed scale per field (money at the
currency's minor unit, quantities without trailing zeros), and the minimum commitment tops the
*rounded* lines up to the minimum exactly."""

import csv
import io
import json
from datetime import date
from decimal import Decimal as D

import pytest
import time_machine

from billing import pricing
from billing.exports import invoice_csv, period_export
from billing.invoices import invoice_finalize, invoice_refresh, invoice_upcoming
from cpaas.tenants.keys import api_key_create
from tests.conftest import client_for

from .conftest import at, make_plan, use

OCT = date(2026, 10, 1)


@pytest.mark.parametrize(("value", "expected"), [
    (D("20.000000"), "20"), (D("2E+1"), "20"), (D("1.020E+3"), "1020"), (D("0.000200"), "0.0002"),
    (D("0E-6"), "0"), (D("-0"), "0"), (D("1234567.5"), "1234567.5"),
])
def test_quantities_are_plain_without_trailing_zeros(value, expected):
    assert pricing.plain(value) == expected


@pytest.mark.parametrize(("amount", "currency", "expected"), [
    (D("1020"), "EUR", "1020.00"), (D("1.02E+3"), "EUR", "1020.00"), (D("0"), "EUR", "0.00"),
    (D("1020.4"), "JPY", "1020"), (D("2.0005"), "KWD", "2.001"),
])
def test_money_is_plain_at_the_minor_unit_scale(amount, currency, expected):
    assert pricing.money_text(amount, currency) == expected


def test_the_minimum_tops_the_rounded_lines_up_exactly(tenant, app):
    # 9,999 x 0.005 = 49.995 per country: each line rounds to 50.00, which already meets 100.00.
    make_plan(tenant, minimum="100", charges=[{"meter": "sms_segments", "model": "per_unit",
                                               "unit_price": "0.005", "group_by": "country"}])
    use(app, "sms_segments", 9999, at(2026, 10, 3), country="GB")
    use(app, "sms_segments", 9999, at(2026, 10, 3), country="FR")
    invoice = invoice_refresh(tenant_id=tenant.pk, period_start=OCT)
    assert [(line.kind, line.amount_minor) for line in invoice.lines.all()] == [("usage", 5000), ("usage", 5000)]
    assert invoice.total_minor == 10000


def test_a_short_month_is_topped_up_to_the_minimum_to_the_cent(tenant, app):
    # 3 x 33.3333 = 99.9999 unrounded, 3 x 33.33 = 99.99 billed: the top-up is 0.01, total 100.00.
    make_plan(tenant, minimum="100", charges=[{"meter": "sms_segments", "model": "per_unit",
                                               "unit_price": "0.333333", "group_by": "country"}])
    for country in ("GB", "FR", "DE"):
        use(app, "sms_segments", 100, at(2026, 10, 3), country=country)
    invoice = invoice_refresh(tenant_id=tenant.pk, period_start=OCT)
    assert [(line.kind, line.amount_minor) for line in invoice.lines.all()][-1] == ("minimum", 1)
    assert invoice.total_minor == 10000


@pytest.fixture
def big_invoice(tenant, app):
    make_plan(tenant, fixed_fee="1000", charges=[{"meter": "sms_segments", "model": "per_unit", "unit_price": "1"}])
    use(app, "sms_segments", 20, at(2026, 10, 3))
    invoice_refresh(tenant_id=tenant.pk, period_start=OCT)
    with time_machine.travel(at(2026, 11, 2), tick=False):
        return invoice_finalize(tenant_id=tenant.pk, invoice_id=invoice_refresh(
            tenant_id=tenant.pk, period_start=OCT).pk, now=at(2026, 11, 2))


def test_invoice_json_writes_plain_numbers(live_api, big_invoice):
    body = live_api.get(f"/v1/invoices/{big_invoice.pk}").json()
    assert (body["subtotal"], body["total"]) == ("1020.00", "1020.00")
    assert [(line["quantity"], line["amount"]) for line in body["lines"]] == [("1", "1000.00"), ("20", "20.00")]
    assert body["lines"][1]["amount_precise"] == "20.000000"
    assert "E+" not in json.dumps(body)


def test_invoice_csv_and_exports_write_plain_numbers(big_invoice, tmp_path):
    rows = list(csv.DictReader(io.StringIO(invoice_csv(big_invoice))))
    assert [(row["quantity"], row["amount"]) for row in rows[:2]] == [("1", "1000.00"), ("20", "20.00")]
    assert rows[-1]["amount"] == "1020.00"
    written = period_export(OCT, tmp_path)
    for path in written.values():
        assert "E+" not in path.read_text(), path.name
    invoice_row = json.loads(written["invoices.jsonl"].read_text().splitlines()[0])
    assert invoice_row["total"] == "1020.00"


def test_usage_and_upcoming_write_plain_numbers(tenant, app):
    live = client_for(api_key_create(app=app, name="live", mode="live").secret)
    make_plan(tenant, fixed_fee="1000", charges=[{"meter": "sms_segments", "model": "per_unit", "unit_price": "1"}])
    use(app, "sms_segments", 20, at(2026, 10, 3))
    with time_machine.travel(at(2026, 10, 20), tick=False):
        usage = live.get("/v1/usage", {"meter": "sms_segments", "granularity": "month"}).json()
        upcoming = invoice_upcoming(tenant_id=tenant.pk)
    assert usage["data"] == [{"period": "2026-10-01", "quantity": "20"}]
    assert upcoming["total"] == "1020.00"
    assert [line["quantity"] for line in upcoming["lines"]] == ["1", "20"]
