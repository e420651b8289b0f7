"""Exports for finance: invoice PDF (WeasyPrint) and CSV, and the period export (CSV + JSON lines).

Columns are documented in docs/billing.md (with a Xero / QuickBooks mapping). Every figure is
the stored rounded amount, so exports agree with the database and Stripe to the cent.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path

from django.template.loader import render_to_string

from billing.invoices import minor_to_decimal
from billing.ledger import period_after
from billing.models import CreditNote, Invoice, InvoiceLine, Payment
from billing.pricing import plain

INVOICE_COLUMNS = ["invoice_id", "number", "status", "tenant_id", "customer_name", "customer_vat_id", "currency",
                   "period_start", "period_end", "issue_date", "due_date", "subtotal", "tax_rate", "tax", "total",
                   "credited", "paid_at"]
LINE_COLUMNS = ["invoice_id", "invoice_number", "position", "kind", "meter", "description", "quantity",
                "unit_price", "amount", "currency", "tax_rate", "service_start", "service_end"]
CREDIT_NOTE_COLUMNS = ["credit_note_id", "number", "invoice_id", "invoice_number", "tenant_id", "reason", "currency",
                       "subtotal", "tax", "total", "created_at"]
PAYMENT_COLUMNS = ["payment_id", "invoice_id", "invoice_number", "tenant_id", "method", "external_id", "currency",
                   "amount", "paid_at"]


def _m(amount_minor: int, currency: str) -> str:
    return str(minor_to_decimal(amount_minor, currency))


def _due(invoice: Invoice) -> str:
    from datetime import timedelta

    from billing import conf

    return (invoice.finalized_at.date() + timedelta(days=conf.PAYMENT_TERMS_DAYS)).isoformat() \
        if invoice.finalized_at else ""


def invoice_row(invoice: Invoice) -> dict:
    cur = invoice.currency
    return {"invoice_id": invoice.pk, "number": invoice.number or "", "status": invoice.status,
            "tenant_id": invoice.tenant_id, "customer_name": invoice.customer.get("name", ""),
            "customer_vat_id": invoice.customer.get("vat_id", ""), "currency": cur,
            "period_start": invoice.period_start.isoformat(), "period_end": invoice.period_end.isoformat(),
            "issue_date": invoice.finalized_at.date().isoformat() if invoice.finalized_at else "",
            "due_date": _due(invoice), "subtotal": _m(invoice.subtotal_minor, cur), "tax_rate": str(invoice.tax_rate),
            "tax": _m(invoice.tax_minor, cur), "total": _m(invoice.total_minor, cur),
            "credited": _m(invoice.credited_minor, cur),
            "paid_at": invoice.paid_at.isoformat() if invoice.paid_at else ""}


def line_row(line: InvoiceLine, invoice: Invoice) -> dict:
    return {"invoice_id": invoice.pk, "invoice_number": invoice.number or "", "position": line.position,
            "kind": line.kind, "meter": line.meter, "description": line.description,
            "quantity": plain(line.quantity),
            "unit_price": "" if line.unit_price is None else plain(line.unit_price),
            "amount": _m(line.amount_minor, invoice.currency), "currency": invoice.currency,
            "tax_rate": str(invoice.tax_rate), "service_start": line.service_start.isoformat(),
            "service_end": line.service_end.isoformat()}


def credit_note_row(note: CreditNote) -> dict:
    cur = note.currency
    return {"credit_note_id": note.pk, "number": note.number, "invoice_id": note.invoice_id,
            "invoice_number": note.invoice.number or "", "tenant_id": note.tenant_id, "reason": note.reason,
            "currency": cur, "subtotal": _m(note.subtotal_minor, cur), "tax": _m(note.tax_minor, cur),
            "total": _m(note.total_minor, cur), "created_at": note.created_at.isoformat()}


def payment_row(payment: Payment) -> dict:
    return {"payment_id": payment.pk, "invoice_id": payment.invoice_id, "invoice_number": payment.invoice.number or "",
            "tenant_id": payment.tenant_id, "method": payment.method, "external_id": payment.external_id,
            "currency": payment.currency, "amount": _m(payment.amount_minor, payment.currency),
            "paid_at": payment.paid_at.isoformat()}


def _csv(columns: list[str], rows: Iterable[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue()


def invoice_csv(invoice: Invoice) -> str:
    """One invoice: its lines, then a subtotal / tax / total footer."""
    cur = invoice.currency
    body = _csv(LINE_COLUMNS, (line_row(line, invoice) for line in invoice.lines.all()))
    footer = io.StringIO()
    writer = csv.writer(footer, lineterminator="\n")
    for label, minor in (("subtotal", invoice.subtotal_minor), ("tax", invoice.tax_minor),
                         ("total", invoice.total_minor)):
        writer.writerow([invoice.pk, invoice.number or "", "", label, "", label, "", "", _m(minor, cur), cur,
                         str(invoice.tax_rate), "", ""])
    return body + footer.getvalue()


def invoice_html(invoice: Invoice) -> str:
    cur = invoice.currency
    lines = [{"line": line, "amount": _m(line.amount_minor, cur), "quantity": plain(line.quantity),
              "unit_price": "" if line.unit_price is None else plain(line.unit_price)} for line in invoice.lines.all()]
    dau = [line for line in invoice.lines.all() if line.appendix.get("daily")]
    return render_to_string("billing/invoice_pdf.html", {
        "invoice": invoice, "lines": lines, "dau_lines": dau, "subtotal": _m(invoice.subtotal_minor, cur),
        "tax": _m(invoice.tax_minor, cur), "total": _m(invoice.total_minor, cur),
        "tax_percent": plain(invoice.tax_rate * 100), "due_date": _due(invoice),
        "credit_notes": [{"note": n, "total": _m(n.total_minor, cur)} for n in invoice.credit_notes.all()],
    })


def invoice_pdf(invoice: Invoice) -> bytes:
    from weasyprint import HTML

    return HTML(string=invoice_html(invoice)).write_pdf()


# --- the period export -------------------------------------------------------------------------------

def period_export(period: date, directory: Path, *, formats: tuple[str, ...] = ("csv", "jsonl"),
                  progress: Callable[[int], None] | None = None) -> dict[str, Path]:
    """Write invoices, lines, credit notes and payments of finalized invoices for ``period`` (the
    month whose usage they bill) to ``directory``; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    invoices = list(Invoice.objects.filter(period_start=period).exclude(status="draft").order_by("number"))
    ids = [i.pk for i in invoices]
    by_id = {i.pk: i for i in invoices}
    tables: dict[str, tuple[list[str], list[dict]]] = {"invoices": (INVOICE_COLUMNS, []), "lines": (LINE_COLUMNS, []),
                                                       "credit_notes": (CREDIT_NOTE_COLUMNS, []),
                                                       "payments": (PAYMENT_COLUMNS, [])}
    for invoice in invoices:
        tables["invoices"][1].append(invoice_row(invoice))
        if progress:
            progress(1)
    for line in InvoiceLine.objects.filter(invoice_id__in=ids).order_by("invoice_id", "position"):
        tables["lines"][1].append(line_row(line, by_id[line.invoice_id]))
    start, end = period, period_after(period)
    notes = CreditNote.objects.filter(invoice_id__in=ids).select_related("invoice").order_by("number")
    tables["credit_notes"][1].extend(credit_note_row(n) for n in notes)
    payments = Payment.objects.filter(invoice_id__in=ids).select_related("invoice").order_by("paid_at")
    tables["payments"][1].extend(payment_row(p) for p in payments)
    written = {}
    for name, (columns, rows) in tables.items():
        if "csv" in formats:
            path = directory / f"{name}-{start:%Y-%m}.csv"
            path.write_text(_csv(columns, rows), encoding="utf-8")
            written[f"{name}.csv"] = path
        if "jsonl" in formats:
            path = directory / f"{name}-{start:%Y-%m}.jsonl"
            path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
            written[f"{name}.jsonl"] = path
    _ = end
    return written
