"""Billing data: the usage ledger and its rollups, plans, accounts, invoices, credit notes.

Money charged, paid or credited is stored in integer minor units with its currency; precise
sub-cent amounts (rates, line accruals) as ``DecimalField(max_digits=20, decimal_places=6)``.
Nothing here is ever deleted: usage events are voided, invoices voided, plans versioned.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from cpaas.core.ids import id_field
from cpaas.core.scoping import LIVE_ONLY, Scoping

MONEY = {"max_digits": 20, "decimal_places": 6}


class UsageEvent(models.Model):
    """Append-only: one metered fact. Deduplicated forever by (app, idempotency_key).

    ``bill_period`` is the first day of the billing period the event is charged in: the period
    it occurred in, or — when it arrived after that period's grace window — the period that was
    open when it arrived (``late``).
    """

    id = id_field("use")
    tenant_id = models.CharField(max_length=40, default="")
    # No database-level FK: its per-row trigger check and KEY SHARE lock on the app row cost more
    # than half of ledger ingestion; the app is validated when the event is prepared, and apps
    # are never deleted (decision 0700).
    app = models.ForeignKey("tenants.App", on_delete=models.DO_NOTHING, related_name="usage_events",
                            db_constraint=False, db_index=False)  # (app, idempotency key) leads with it
    meter = models.CharField(max_length=64)
    quantity = models.DecimalField(max_digits=20, decimal_places=6)
    subject = models.CharField(max_length=200, blank=True, default="")
    dimensions = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    idempotency_key = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=32, default="")
    bill_period = models.DateField(null=True)
    late = models.BooleanField(default=False)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app", "idempotency_key"], name="usage_unique_app_key")
        ]
        indexes = [
            # Rating reads raw events only for voice per-call increments; every other read uses the
            # rollups. A partial index keeps the other 90 % of inserts from paying for it: each
            # index on this table roughly halves COPY throughput (docs/decisions/0700).
            models.Index(fields=["tenant_id", "bill_period", "occurred_at"], name="usage_voice_idx",
                         condition=Q(meter="voice_seconds")),
        ]


class UsageDaily(models.Model):
    """Incrementally maintained rollup: one row per (app, meter, day, dimensions, bill period)."""

    tenant_id = models.CharField(max_length=40)
    app_id = models.CharField(max_length=40)
    meter = models.CharField(max_length=64)
    day = models.DateField()
    dims_key = models.CharField(max_length=400, default="")
    dimensions = models.JSONField(default=dict)
    bill_period = models.DateField()
    quantity = models.DecimalField(max_digits=24, decimal_places=6, default=0)
    events = models.BigIntegerField(default=0)
    max_quantity = models.DecimalField(max_digits=20, decimal_places=6, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app_id", "meter", "day", "dims_key", "bill_period"],
                                    name="usage_daily_unique")
        ]
        indexes = [models.Index(fields=["tenant_id", "bill_period", "meter"], name="usage_daily_tenant_idx")]


class DauMark(models.Model):
    """A subject's first activity of a day on a unique-count meter (Redis filters repeats)."""

    tenant_id = models.CharField(max_length=40)
    app_id = models.CharField(max_length=40)
    meter = models.CharField(max_length=64)
    day = models.DateField()
    subject = models.CharField(max_length=200)
    bill_period = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app_id", "meter", "day", "subject"], name="dau_mark_unique")
        ]
        indexes = [models.Index(fields=["tenant_id", "bill_period", "meter", "day"], name="dau_tenant_idx")]


# --- plans ----------------------------------------------------------------------------------------

class Plan(models.Model):
    id = id_field("plan")
    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class PlanVersion(models.Model):
    """Immutable once created; a change is a new version."""

    id = id_field("plv")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="EUR")
    fixed_fee = models.DecimalField(**MONEY, default=0)
    minimum_commitment = models.DecimalField(**MONEY, default=0)
    charges = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plan", "version"], name="plan_version_unique")]


class PlanAssignment(models.Model):
    """A plan version in effect for a tenant (or one app) from ``effective_from`` on."""

    id = id_field("pla")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="plan_assignments")
    app = models.ForeignKey("tenants.App", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    plan_version = models.ForeignKey(PlanVersion, on_delete=models.PROTECT, related_name="assignments")
    effective_from = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["tenant", "effective_from"], name="plan_assign_tenant_idx")]


# --- accounts ---------------------------------------------------------------------------------------

class Issuer(models.Model):
    """The legal entity that issues invoices; numbers are gap-free per issuer."""

    id = id_field("iss")
    name = models.CharField(max_length=200)
    address = models.TextField(blank=True, default="")
    vat_id = models.CharField(max_length=40, blank=True, default="")
    invoice_prefix = models.CharField(max_length=10, default="INV")
    credit_note_prefix = models.CharField(max_length=10, default="CN")


class NumberSequence(models.Model):
    """Last number used per (issuer, kind, year); taken under a row lock inside finalize."""

    issuer = models.ForeignKey(Issuer, on_delete=models.PROTECT)
    kind = models.CharField(max_length=16)
    year = models.PositiveIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "kind", "year"], name="number_seq_unique")]


class BillingMode(models.TextChoices):
    POSTPAID = "postpaid", "Postpaid"
    PREPAID = "prepaid", "Prepaid"


class BillingAccount(models.Model):
    tenant = models.OneToOneField("tenants.Tenant", on_delete=models.PROTECT, related_name="billing_account",
                                  primary_key=True)
    issuer = models.ForeignKey(Issuer, on_delete=models.PROTECT, null=True, blank=True)
    mode = models.CharField(max_length=10, choices=BillingMode.choices, default=BillingMode.POSTPAID)
    legal_name = models.CharField(max_length=200, blank=True, default="")
    address = models.TextField(blank=True, default="")
    vat_id = models.CharField(max_length=40, blank=True, default="")
    email = models.EmailField(blank=True, default="")
    tax_rate = models.DecimalField(max_digits=7, decimal_places=4, default=0)  # 0.2000 = 20 %
    currency = models.CharField(max_length=3, default="EUR")
    balance_minor = models.BigIntegerField(default=0)
    low_balance_minor = models.BigIntegerField(default=0)
    low_balance_notified = models.BooleanField(default=False)
    stripe_customer_id = models.CharField(max_length=64, blank=True, default="")


class SpendCap(models.Model):
    """A monthly spend limit for one app (postpaid or prepaid)."""

    app = models.OneToOneField("tenants.App", on_delete=models.PROTECT, related_name="spend_cap", primary_key=True)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    monthly_limit_minor = models.BigIntegerField()


class BalanceTransaction(models.Model):
    id = id_field("btx")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    kind = models.CharField(max_length=20)  # top_up, invoice, credit_note, adjustment
    reference = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "kind", "reference"],
                                               condition=~Q(reference=""), name="balance_tx_unique_ref")]


# --- invoices -----------------------------------------------------------------------------------------

class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    OPEN = "open", "Open (finalized)"
    PAID = "paid", "Paid"
    VOID = "void", "Void"
    UNCOLLECTIBLE = "uncollectible", "Uncollectible"


# Allowed transitions: the one table (tested exhaustively).
INVOICE_TRANSITIONS: dict[str, set[str]] = {
    InvoiceStatus.DRAFT: {InvoiceStatus.OPEN},
    InvoiceStatus.OPEN: {InvoiceStatus.PAID, InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE},
    InvoiceStatus.UNCOLLECTIBLE: {InvoiceStatus.PAID, InvoiceStatus.VOID},
    InvoiceStatus.PAID: set(),
    InvoiceStatus.VOID: set(),
}


class Invoice(models.Model):
    id = id_field("inv")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="invoices")
    scoping = Scoping.tenant(mode=LIVE_ONLY)  # live money only: a test key sees no invoice (0801)
    issuer = models.ForeignKey(Issuer, on_delete=models.PROTECT, null=True, blank=True)
    number = models.CharField(max_length=40, null=True, blank=True)  # noqa: DJ001 - NULL until finalized (unique)
    status = models.CharField(max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT)
    period_start = models.DateField()
    period_end = models.DateField()  # exclusive
    currency = models.CharField(max_length=3)
    subtotal_minor = models.BigIntegerField(default=0)
    tax_rate = models.DecimalField(max_digits=7, decimal_places=4, default=0)
    tax_minor = models.BigIntegerField(default=0)
    total_minor = models.BigIntegerField(default=0)
    credited_minor = models.BigIntegerField(default=0)
    customer = models.JSONField(default=dict)
    seller = models.JSONField(default=dict)
    rated_at = models.DateTimeField(null=True, blank=True)
    finalized_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    marked_uncollectible_at = models.DateTimeField(null=True, blank=True)
    stripe_invoice_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "period_start"], condition=~Q(status="void"),
                                    name="invoice_one_per_period"),
            models.UniqueConstraint(fields=["issuer", "number"], name="invoice_number_unique"),
        ]
        indexes = [models.Index(fields=["tenant", "id"], name="invoice_tenant_idx"),
                   models.Index(fields=["status", "period_start"], name="invoice_status_idx")]

    @property
    def is_final(self) -> bool:
        return self.status != InvoiceStatus.DRAFT


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=20)  # fixed, usage, minimum, late_usage
    meter = models.CharField(max_length=64, blank=True, default="")
    app_id = models.CharField(max_length=40, blank=True, default="")
    description = models.CharField(max_length=300)
    dimensions = models.JSONField(default=dict, blank=True)
    quantity = models.DecimalField(max_digits=24, decimal_places=6, default=0)
    unit_price = models.DecimalField(**MONEY, null=True, blank=True)
    tiers = models.JSONField(default=list, blank=True)
    amount_precise = models.DecimalField(max_digits=24, decimal_places=6)
    amount_minor = models.BigIntegerField()
    service_start = models.DateField()
    service_end = models.DateField()
    appendix = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["invoice", "position"], name="invoice_line_unique")]


class CreditNote(models.Model):
    id = id_field("cn")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="credit_notes")
    scoping = Scoping.tenant(mode=LIVE_ONLY)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    issuer = models.ForeignKey(Issuer, on_delete=models.PROTECT, null=True, blank=True)
    number = models.CharField(max_length=40)
    reason = models.CharField(max_length=500)
    currency = models.CharField(max_length=3)
    subtotal_minor = models.BigIntegerField()
    tax_minor = models.BigIntegerField()
    total_minor = models.BigIntegerField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    actor_key_id = models.CharField(max_length=40, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "number"], name="credit_note_number_unique")]
        indexes = [models.Index(fields=["tenant", "id"], name="credit_note_tenant_idx")]


class Payment(models.Model):
    id = id_field("pay")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    method = models.CharField(max_length=20)  # stripe, manual, balance
    external_id = models.CharField(max_length=64, blank=True, default="")
    paid_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["invoice", "method", "external_id"], name="payment_unique_ext")]
