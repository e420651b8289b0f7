"""Stripe sync (only when ``STRIPE_API_KEY`` is set): customers, finalized invoices, webhooks.

We stay the system of record: Stripe invoices carry *our* amounts (one invoice item per rounded
line, tax as its own item so Stripe's total equals ours to the cent) and *our* number as the
legal one. Every write sends an idempotency key derived from our ids, so a retried task never
creates a second customer, item or invoice.
"""

from __future__ import annotations

import logging

import stripe
from django.db import transaction

from billing import conf, pricing
from billing.models import BillingAccount, Invoice, InvoiceStatus

log = logging.getLogger(__name__)

_http_client: stripe.HTTPClient | None = None  # tests install a client with a recorded transport


class TransientStripeError(Exception):
    """A network error or 5xx/429 from Stripe: retry later."""


def client() -> stripe.StripeClient:
    kwargs = {"max_network_retries": 0}
    if _http_client is not None:
        kwargs["http_client"] = _http_client
    return stripe.StripeClient(conf.STRIPE_API_KEY, **kwargs)


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise TransientStripeError(str(exc)) from exc
    except stripe.APIError as exc:
        if (exc.http_status or 500) >= 500:
            raise TransientStripeError(str(exc)) from exc
        raise


def customer_sync(*, tenant_id: str) -> str:
    from billing.invoices import account_get

    account = account_get(tenant_id)
    if account.stripe_customer_id:
        return account.stripe_customer_id
    customer = _call(client().v1.customers.create, params={
        "name": account.legal_name or tenant_id, "email": account.email or None,
        "metadata": {"cpaas_tenant_id": tenant_id},
        **({"tax_id_data": [{"type": "eu_vat", "value": account.vat_id}]} if account.vat_id else {}),
    }, options={"idempotency_key": f"cpaas-customer-{tenant_id}"})
    BillingAccount.objects.filter(tenant_id=tenant_id, stripe_customer_id="").update(stripe_customer_id=customer.id)
    return customer.id


def invoice_push(*, invoice_id: str) -> str:
    """Create, fill and finalize the Stripe invoice for one of our finalized invoices."""
    if not conf.STRIPE_API_KEY:
        return ""
    invoice = Invoice.objects.get(pk=invoice_id)
    if invoice.status == InvoiceStatus.DRAFT:
        raise ValueError("only finalized invoices are pushed")
    if invoice.stripe_invoice_id:
        return invoice.stripe_invoice_id
    customer = customer_sync(tenant_id=invoice.tenant_id)
    api = client().v1
    currency = invoice.currency.lower()
    remote = _call(api.invoices.create, params={
        "customer": customer, "currency": currency, "collection_method": "send_invoice",
        "days_until_due": conf.PAYMENT_TERMS_DAYS, "auto_advance": False, "number": invoice.number,
        "pending_invoice_items_behavior": "exclude",
        "metadata": {"cpaas_invoice_id": invoice.pk, "cpaas_number": invoice.number},
    }, options={"idempotency_key": f"cpaas-invoice-{invoice.pk}"})
    items = [(f"line-{line.position}", line.amount_minor, line.description) for line in invoice.lines.all()]
    if invoice.tax_minor:
        items.append(("tax", invoice.tax_minor, f"VAT {pricing.plain(invoice.tax_rate * 100)} %"))
    for suffix, amount, description in items:
        _call(api.invoice_items.create, params={
            "customer": customer, "invoice": remote.id, "amount": amount, "currency": currency,
            "description": description[:500], "metadata": {"cpaas_invoice_id": invoice.pk},
        }, options={"idempotency_key": f"cpaas-invoice-{invoice.pk}-{suffix}"})
    finalized = _call(api.invoices.finalize_invoice, remote.id, params={"auto_advance": False},
                      options={"idempotency_key": f"cpaas-invoice-{invoice.pk}-finalize"})
    if finalized.total != invoice.total_minor:
        log.error("Stripe total %s differs from ours %s for %s", finalized.total, invoice.total_minor, invoice.pk)
    Invoice.objects.filter(pk=invoice.pk, stripe_invoice_id="").update(stripe_invoice_id=remote.id)
    return remote.id


def webhook_handle(*, payload: bytes, signature: str) -> str:
    """Verify (stripe library) and apply a Stripe webhook; returns what was done."""
    from billing.invoices import _publish, invoice_data, invoice_set_status

    event = stripe.Webhook.construct_event(payload, signature, conf.STRIPE_WEBHOOK_SECRET)
    kind = event["type"]
    obj = event["data"]["object"]
    if kind not in ("invoice.paid", "invoice.payment_failed"):
        return "ignored"
    ours = (obj.get("metadata") or {}).get("cpaas_invoice_id")
    invoice = Invoice.objects.filter(pk=ours).first() if ours else None
    invoice = invoice or Invoice.objects.filter(stripe_invoice_id=obj["id"]).first()
    if invoice is None:
        return "unknown invoice"
    if kind == "invoice.paid":
        if invoice.status in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE):
            invoice_set_status(tenant_id=invoice.tenant_id, invoice_id=invoice.pk, status="paid", method="stripe",
                               external_id=obj["id"], actor_key_id="stripe")
        return "paid"
    with transaction.atomic():
        _publish(invoice.tenant_id, "invoice.payment_failed", invoice_data(invoice),
                 f"invoice.payment_failed:{invoice.pk}:{event['id']}")
    return "payment_failed"
