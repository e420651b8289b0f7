"""The finance period export (CSV + JSON lines) and the export_invoices command."""

import csv
import json
from datetime import date
from io import StringIO

from django.core.management import call_command

from billing.exports import INVOICE_COLUMNS, LINE_COLUMNS, period_export
from billing.invoices import credit_note_create, invoice_finalize, invoice_refresh, invoice_set_status

from .conftest import at, make_plan, use

OCT = date(2026, 10, 1)


def finalize_one(tenant, app):
    make_plan(tenant, fixed_fee="10", charges=[{"meter": "sms_segments", "model": "per_unit", "unit_price": "0.05"}])
    use(app, "sms_segments", 140, at(2026, 10, 3))
    invoice = invoice_refresh(tenant_id=tenant.pk, period_start=OCT)
    invoice = invoice_finalize(tenant_id=tenant.pk, invoice_id=invoice.pk, now=at(2026, 11, 1, 13))
    credit_note_create(tenant_id=tenant.pk, invoice_id=invoice.pk, amount="1.00", reason="goodwill")
    invoice_set_status(tenant_id=tenant.pk, invoice_id=invoice.pk, status="paid", external_id="wire-1")
    return invoice


def test_the_period_export_writes_each_table_as_csv_and_json_lines(tenant, app, tmp_path):
    invoice = finalize_one(tenant, app)
    written = period_export(OCT, tmp_path)
    assert sorted(written) == ["credit_notes.csv", "credit_notes.jsonl", "invoices.csv", "invoices.jsonl",
                               "lines.csv", "lines.jsonl", "payments.csv", "payments.jsonl"]
    invoices = list(csv.DictReader(written["invoices.csv"].open()))
    assert list(invoices[0]) == INVOICE_COLUMNS
    assert (invoices[0]["number"], invoices[0]["total"], invoices[0]["credited"]) == (invoice.number, "17.00", "1.00")
    lines = [json.loads(row) for row in written["lines.jsonl"].read_text().splitlines()]
    assert list(lines[0]) == LINE_COLUMNS
    assert sum(float(line["amount"]) for line in lines) == 17.0
    assert "goodwill" in written["credit_notes.csv"].read_text()
    assert "wire-1" in written["payments.csv"].read_text()


def test_drafts_are_not_exported(tenant, app, tmp_path):
    make_plan(tenant, fixed_fee="10")
    invoice_refresh(tenant_id=tenant.pk, period_start=OCT)
    written = period_export(OCT, tmp_path, formats=("csv",))
    assert written["invoices.csv"].read_text().count("\n") == 1  # header only


def test_the_export_invoices_command(tenant, app, tmp_path):
    finalize_one(tenant, app)
    out = StringIO()
    call_command("export_invoices", "--period", "2026-10", "--out", str(tmp_path), "--pdf", stdout=out)
    assert "1 invoices exported" in out.getvalue()
    assert (tmp_path / "2026-10" / "INV-2026-000001.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "2026-10" / "invoices-2026-10.csv").exists()


def test_operator_commands_finalize_credit_and_top_up(tenant, app):
    import time_machine

    from billing.models import BillingAccount, Invoice

    make_plan(tenant, fixed_fee="10")
    draft = invoice_refresh(tenant_id=tenant.pk, period_start=OCT)
    out = StringIO()
    with time_machine.travel(at(2026, 11, 2), tick=False):
        call_command("billing_admin", "finalize", draft.pk, stdout=out)
        call_command("billing_admin", "credit", draft.pk, "--amount", "2.50", "--reason", "sorry", stdout=out)
        call_command("billing_admin", "void", draft.pk, stdout=out)
    assert Invoice.objects.get(pk=draft.pk).status == "void"
    call_command("billing_admin", "account", tenant.pk, "--mode", "prepaid", "--tax-rate", "0.2", "--top-up", "50",
                 stdout=out)
    account = BillingAccount.objects.get(tenant=tenant)
    assert (account.mode, account.balance_minor) == ("prepaid", 5000)
    assert "CN-2026-000001 issued" in out.getvalue()
