"""Invoices: drafts built from rating, refresh, finalize (gap-free numbers), paid / void /
uncollectible, credit notes, the upcoming estimate and the monthly billing run.

Every line keeps its precise amount and is rounded once (half up, to the currency's minor unit);
the subtotal is the sum of the rounded lines, tax is rounded once on the subtotal, and the total
is subtotal + tax — so the database, the PDF, the CSV and Stripe carry the same figures.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import conf, pricing
from billing.ledger import open_period, period_after, period_closes_at
from billing.models import (
    INVOICE_TRANSITIONS,
    BalanceTransaction,
    BillingAccount,
    BillingMode,
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Issuer,
    NumberSequence,
    Payment,
    PlanAssignment,
)
from billing.rating import LineDraft, RunCache, rate_period
from cpaas.core.errors import ApiError
from cpaas.tenants.audit import audit_record
from cpaas.tenants.models import Tenant

log = logging.getLogger(__name__)

# Finalizing waits this long after the grace window, so a transaction that accepted usage just
# before the window closed has committed before the invoice is frozen.
FINALIZE_MARGIN = timedelta(minutes=10)
# Tenants whose reads (plans, rollups, DAU counts) the billing run fetches together.
RUN_CHUNK = 200


def default_issuer() -> Issuer:
    issuer = Issuer.objects.order_by("id").first()
    if issuer is None:
        issuer = Issuer.objects.create(name=conf.ISSUER_NAME, address=conf.ISSUER_ADDRESS, vat_id=conf.ISSUER_VAT_ID)
    return issuer


def account_get(tenant_id: str) -> BillingAccount:
    account = BillingAccount.objects.filter(tenant_id=tenant_id).first()
    if account is None:
        tenant = Tenant.objects.get(pk=tenant_id)
        account, _ = BillingAccount.objects.get_or_create(
            tenant_id=tenant_id, defaults={"issuer": default_issuer(), "legal_name": tenant.name,
                                           "currency": conf.DEFAULT_CURRENCY})
    return account


def _publish(tenant_id: str, type_: str, data: dict, key: str) -> None:
    """Billing events go to every app of the tenant (webhook endpoints belong to apps); invoices
    are real money, so only live-mode endpoints receive them."""
    import webhooks
    from cpaas.tenants.models import App

    for app in App.objects.filter(tenant_id=tenant_id).order_by("id"):
        webhooks.publish(app, type_, data, idempotency_key=f"{key}:{app.pk}", livemode=True)


def invoice_data(invoice: Invoice) -> dict:
    return {"id": invoice.pk, "number": invoice.number, "status": invoice.status, "currency": invoice.currency,
            "period_start": invoice.period_start.isoformat(), "period_end": invoice.period_end.isoformat(),
            "total": str(minor_to_decimal(invoice.total_minor, invoice.currency))}


def minor_to_decimal(amount_minor: int, currency: str) -> Decimal:
    """Minor units as a Decimal at the currency's scale (``102000`` → ``1020.00``, never ``1.020E+3``)."""
    exponent = pricing.CURRENCY_EXPONENT.get(currency.upper(), 2)
    return Decimal(amount_minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


# --- drafts ---------------------------------------------------------------------------------------

def _line_rows(invoice: Invoice, drafts: list[LineDraft]) -> list[InvoiceLine]:
    rows = []
    for position, d in enumerate(drafts, start=1):
        rows.append(InvoiceLine(
            invoice=invoice, position=position, kind=d.kind, meter=d.meter, app_id=d.app_id,
            description=d.description[:300], dimensions=d.dimensions, quantity=d.quantity.quantize(Decimal("0.000001")),
            unit_price=d.unit_price, tiers=d.tiers, amount_precise=d.amount.quantize(Decimal("0.000001")),
            amount_minor=pricing.to_minor_units(d.amount, invoice.currency),
            service_start=d.service_start or invoice.period_start, service_end=d.service_end or invoice.period_end,
            appendix=d.appendix))
    return rows


def _signature(rows: list[InvoiceLine]) -> list[tuple]:
    return [(r.position, r.kind, r.meter, r.description, r.quantity, r.amount_minor, r.amount_precise,
             r.service_start, r.service_end, repr(r.tiers), repr(r.appendix)) for r in rows]


def totals(amounts_minor: list[int], tax_rate: Decimal, currency: str) -> tuple[int, int, int]:
    subtotal = sum(amounts_minor)
    tax = pricing.to_minor_units(minor_to_decimal(subtotal, currency) * tax_rate, currency)
    return subtotal, tax, subtotal + tax


def invoice_refresh(*, tenant_id: str, period_start: date, now: datetime | None = None,
                    cache: RunCache | None = None) -> Invoice | None:
    """Create or refresh the tenant's draft for the period from the ledger. A finalized invoice
    is returned untouched, so the run can repeat. None when the tenant has no plan."""
    rated = rate_period(tenant_id, period_start, cache=cache)
    if rated is None:
        return None
    account = account_get(tenant_id)
    now = now or timezone.now()
    with transaction.atomic():
        invoice = (Invoice.objects.select_for_update().filter(tenant_id=tenant_id, period_start=period_start)
                   .exclude(status=InvoiceStatus.VOID).first())
        if invoice is None:
            try:
                with transaction.atomic():
                    invoice = Invoice.objects.create(
                        tenant_id=tenant_id, issuer=account.issuer or default_issuer(), period_start=period_start,
                        period_end=period_after(period_start), currency=rated.currency, tax_rate=account.tax_rate)
            except IntegrityError:  # a concurrent run created it
                invoice = (Invoice.objects.select_for_update().filter(tenant_id=tenant_id, period_start=period_start)
                           .exclude(status=InvoiceStatus.VOID).get())
        if invoice.status != InvoiceStatus.DRAFT:
            return invoice
        rows = _line_rows(invoice, rated.lines)
        existing = list(invoice.lines.all())
        if _signature(existing) != _signature(rows) or invoice.tax_rate != account.tax_rate:
            InvoiceLine.objects.filter(invoice=invoice).delete()  # draft lines only; finalized are frozen
            InvoiceLine.objects.bulk_create(rows)
        subtotal, tax, total = totals([r.amount_minor for r in rows], account.tax_rate, invoice.currency)
        Invoice.objects.filter(pk=invoice.pk).update(
            subtotal_minor=subtotal, tax_minor=tax, total_minor=total, tax_rate=account.tax_rate, rated_at=now,
            currency=rated.currency)
        invoice.refresh_from_db()
    return invoice


def _next_number(issuer: Issuer, kind: str, year: int) -> int:
    seq, _ = NumberSequence.objects.get_or_create(issuer=issuer, kind=kind, year=year)
    seq = NumberSequence.objects.select_for_update().get(pk=seq.pk)
    seq.last += 1
    seq.save(update_fields=["last"])
    return seq.last


def _guard_draft(invoice: Invoice) -> None:
    if invoice.status != InvoiceStatus.DRAFT:
        raise ApiError(f"Invoice {invoice.number or invoice.pk} is {invoice.status}; it can no longer change.",
                       code="invoice_finalized")


def invoice_finalize(*, tenant_id: str, invoice_id: str, actor_user_id=None, actor_key_id: str = "",
                     now: datetime | None = None) -> Invoice:
    """Refresh, then freeze the draft: assign the issuer's next gap-free number (taken under a row
    lock in this transaction, so a rollback never burns one). Refused while late usage may still
    arrive (grace window + margin)."""
    now = now or timezone.now()
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().filter(tenant_id=tenant_id, pk=invoice_id).first()
        if invoice is None:
            raise ApiError(code="not_found")
        _guard_draft(invoice)
        if now < period_closes_at(invoice.period_start) + FINALIZE_MARGIN:
            raise ApiError("The period's grace window for late usage is still open.", code="grace_period_open")
        invoice = invoice_refresh(tenant_id=tenant_id, period_start=invoice.period_start, now=now)
        account = account_get(tenant_id)
        issuer = invoice.issuer or default_issuer()
        number = _next_number(issuer, "invoice", now.year)
        invoice.number = f"{issuer.invoice_prefix}-{now.year}-{number:06d}"
        invoice.issuer = issuer
        invoice.status = InvoiceStatus.OPEN
        invoice.finalized_at = now
        invoice.customer = {"name": account.legal_name, "address": account.address, "vat_id": account.vat_id,
                            "email": account.email, "tenant": tenant_id}
        invoice.seller = {"name": issuer.name, "address": issuer.address, "vat_id": issuer.vat_id}
        invoice.save(update_fields=["number", "issuer", "status", "finalized_at", "customer", "seller"])
        audit_record(tenant_id=tenant_id, action="invoice.finalize", actor_user_id=actor_user_id,
                     actor_key_id=actor_key_id, target_type="invoice", target_id=invoice.pk,
                     metadata={"number": invoice.number, "total_minor": invoice.total_minor})
        _publish(tenant_id, "invoice.finalized", invoice_data(invoice), f"invoice.finalized:{invoice.pk}")
        if account.mode == BillingMode.PREPAID and invoice.total_minor > 0:
            from billing.balances import balance_apply

            balance_apply(tenant_id=tenant_id, amount_minor=-invoice.total_minor, kind="invoice",
                          reference=invoice.pk, currency=invoice.currency)
            _transition(invoice, InvoiceStatus.PAID, now=now)
            Payment.objects.create(tenant_id=tenant_id, invoice=invoice, amount_minor=invoice.total_minor,
                                   currency=invoice.currency, method="balance", external_id=invoice.pk, paid_at=now)
            _publish(tenant_id, "invoice.paid", invoice_data(invoice), f"invoice.paid:{invoice.pk}")
        if conf.STRIPE_API_KEY:
            from billing.tasks import stripe_push_invoice

            transaction.on_commit(lambda: stripe_push_invoice.delay(invoice.pk))
    return invoice


def _transition(invoice: Invoice, new: str, *, now: datetime) -> Invoice:
    previous = [s for s, targets in INVOICE_TRANSITIONS.items() if new in targets]
    stamp = {InvoiceStatus.PAID: "paid_at", InvoiceStatus.VOID: "voided_at",
             InvoiceStatus.UNCOLLECTIBLE: "marked_uncollectible_at", InvoiceStatus.OPEN: "finalized_at"}[new]
    changed = Invoice.objects.filter(pk=invoice.pk, status__in=previous).update(status=new, **{stamp: now})
    if not changed:
        invoice.refresh_from_db()
        if invoice.status == new:
            return invoice
        code = "invoice_finalized" if invoice.status == InvoiceStatus.DRAFT and new != InvoiceStatus.OPEN else None
        raise ApiError(f"An invoice that is {invoice.status} cannot become {new}.", code=code or "invalid_transition")
    invoice.refresh_from_db()
    return invoice


def invoice_set_status(*, tenant_id: str, invoice_id: str, status: str, actor_user_id=None, actor_key_id: str = "",
                       external_id: str = "", method: str = "manual", now: datetime | None = None) -> Invoice:
    """paid / void / uncollectible, following INVOICE_TRANSITIONS (audited, published)."""
    now = now or timezone.now()
    if status not in (InvoiceStatus.PAID, InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE):
        raise ApiError("`status` is paid, void or uncollectible.", param="status")
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().filter(tenant_id=tenant_id, pk=invoice_id).first()
        if invoice is None:
            raise ApiError(code="not_found")
        if invoice.status == InvoiceStatus.DRAFT:
            raise ApiError("Finalize the invoice first.", code="invalid_transition", param="status")
        already = invoice.status == status
        invoice = _transition(invoice, status, now=now)
        if already:
            return invoice
        if status == InvoiceStatus.PAID:
            Payment.objects.get_or_create(invoice=invoice, method=method, external_id=external_id or invoice.pk,
                                          defaults={"tenant_id": tenant_id, "amount_minor": invoice.total_minor
                                                    - invoice.credited_minor, "currency": invoice.currency,
                                                    "paid_at": now})
        audit_record(tenant_id=tenant_id, action=f"invoice.{status}", actor_user_id=actor_user_id,
                     actor_key_id=actor_key_id, target_type="invoice", target_id=invoice.pk,
                     metadata={"number": invoice.number, "method": method})
        event = {"paid": "invoice.paid", "void": "invoice.voided", "uncollectible": "invoice.marked_uncollectible"}
        _publish(tenant_id, event[status], invoice_data(invoice), f"{event[status]}:{invoice.pk}")
    return invoice


def credit_note_create(*, tenant_id: str, invoice_id: str, amount, reason: str, actor_user_id=None,
                       actor_key_id: str = "", now: datetime | None = None) -> CreditNote:
    """Credit part or all of a finalized invoice (amount before tax; tax at the invoice's rate)."""
    now = now or timezone.now()
    if not reason or not str(reason).strip():
        raise ApiError("A reason is required.", param="reason")
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().filter(tenant_id=tenant_id, pk=invoice_id).first()
        if invoice is None:
            raise ApiError(code="not_found", param="invoice")
        if invoice.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID):
            raise ApiError("Only a finalized, not voided invoice can be credited.", code="invalid_transition",
                           param="invoice")
        from billing.ledger import parse_quantity

        value = parse_quantity(amount, "amount")
        subtotal = pricing.to_minor_units(value, invoice.currency)
        if subtotal <= 0:
            raise ApiError("`amount` must be positive.", code="invalid_quantity", param="amount")
        credited_before = sum(invoice.credit_notes.values_list("subtotal_minor", flat=True))
        if credited_before + subtotal > invoice.subtotal_minor:
            raise ApiError("Credits would exceed the invoice subtotal.", code="credit_exceeds_invoice", param="amount")
        tax = pricing.to_minor_units(minor_to_decimal(subtotal, invoice.currency) * invoice.tax_rate, invoice.currency)
        issuer = invoice.issuer or default_issuer()
        number = _next_number(issuer, "credit_note", now.year)
        note = CreditNote.objects.create(
            tenant_id=tenant_id, invoice=invoice, issuer=issuer, number=f"{issuer.credit_note_prefix}-{now.year}-"
            f"{number:06d}", reason=str(reason).strip()[:500], currency=invoice.currency, subtotal_minor=subtotal,
            tax_minor=tax, total_minor=subtotal + tax, created_by_id=actor_user_id, actor_key_id=actor_key_id,
            created_at=now)
        Invoice.objects.filter(pk=invoice.pk).update(credited_minor=invoice.credited_minor + note.total_minor)
        audit_record(tenant_id=tenant_id, action="credit_note.create", actor_user_id=actor_user_id,
                     actor_key_id=actor_key_id, target_type="credit_note", target_id=note.pk,
                     metadata={"invoice": invoice.pk, "number": note.number, "total_minor": note.total_minor})
        if account_get(tenant_id).mode == BillingMode.PREPAID:
            from billing.balances import balance_apply

            balance_apply(tenant_id=tenant_id, amount_minor=note.total_minor, kind="credit_note", reference=note.pk,
                          currency=note.currency)
        _publish(tenant_id, "credit_note.created", {"id": note.pk, "number": note.number, "invoice": invoice.pk,
                                                    "total": str(minor_to_decimal(note.total_minor, note.currency))},
                 f"credit_note.created:{note.pk}")
    return note


def invoice_upcoming(*, tenant_id: str, now: datetime | None = None) -> dict | None:
    """The current open period's estimate (nothing stored)."""
    now = now or timezone.now()
    period_start = open_period(now)
    rated = rate_period(tenant_id, period_start)
    if rated is None:
        return None
    account = account_get(tenant_id)
    lines = [{"kind": d.kind, "description": d.description, "meter": d.meter, "quantity": pricing.plain(d.quantity),
              "unit_price": None if d.unit_price is None else pricing.plain(d.unit_price), "tiers": d.tiers,
              "amount": pricing.money_text(d.amount, rated.currency), "appendix": d.appendix}
             for d in rated.lines]
    minor = [pricing.to_minor_units(d.amount, rated.currency) for d in rated.lines]
    subtotal, tax, total = totals(minor, account.tax_rate, rated.currency)
    cur = rated.currency
    return {"object": "upcoming_invoice", "currency": cur, "period_start": period_start.isoformat(),
            "period_end": period_after(period_start).isoformat(), "lines": lines,
            "subtotal": str(minor_to_decimal(subtotal, cur)), "tax": str(minor_to_decimal(tax, cur)),
            "total": str(minor_to_decimal(total, cur)), "tax_rate": str(account.tax_rate)}


# --- the monthly run --------------------------------------------------------------------------------

def billed_tenants(period_start: date) -> list[str]:
    return sorted(set(PlanAssignment.objects.filter(effective_from__lt=period_after(period_start))
                      .values_list("tenant_id", flat=True)))


def billing_run(*, period_start: date, now: datetime | None = None, progress=None,
                shard: tuple[int, int] = (0, 1)) -> dict:
    """Draft or refresh every billed tenant's invoice for the period; one transaction per tenant,
    so a crash resumes where it stopped and a repeat changes nothing. ``shard=(i, n)`` takes every
    n-th tenant from the i-th, so n workers can share a run."""
    counts = {"tenants": 0, "invoices": 0, "finalized_skipped": 0}
    index, shards = shard
    tenants = billed_tenants(period_start)[index::shards]
    for start in range(0, len(tenants), RUN_CHUNK):
        chunk = tenants[start:start + RUN_CHUNK]
        cache = RunCache(chunk, period_start)
        for tenant_id in chunk:
            counts["tenants"] += 1
            invoice = invoice_refresh(tenant_id=tenant_id, period_start=period_start, now=now, cache=cache)
            if invoice is not None:
                counts["invoices"] += 1
                if invoice.status != InvoiceStatus.DRAFT:
                    counts["finalized_skipped"] += 1
            if progress:
                progress()
    return counts


def finalize_due(*, now: datetime | None = None) -> int:
    """Finalize every draft whose period's grace window (and margin) is over."""
    now = now or timezone.now()
    done = 0
    for invoice in Invoice.objects.filter(status=InvoiceStatus.DRAFT).only("pk", "tenant_id", "period_start"):
        if now >= period_closes_at(invoice.period_start) + FINALIZE_MARGIN:
            try:
                invoice_finalize(tenant_id=invoice.tenant_id, invoice_id=invoice.pk, now=now)
                done += 1
            except ApiError as exc:
                log.warning("finalize of %s skipped: %s", invoice.pk, exc.code)
    return done


__all__ = ["BalanceTransaction", "billing_run", "credit_note_create", "finalize_due", "invoice_finalize",
           "invoice_refresh", "invoice_set_status", "invoice_upcoming"]
