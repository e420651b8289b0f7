"""Prepaid balances and spend caps, checked before a send (``billing.spend_check``).

The ledger stays the truth. Redis holds, per prepaid tenant, the *available* amount (balance
minus the current period's rated usage so far) and, per capped app, the month's spend; both are
recomputed from the ledger when their key expires (every ``STATE_TTL`` seconds) and decremented
in between by each authorized send's estimated cost — so balances follow usage close to real
time without rating on the hot path. Amounts in Redis are integer micro-units (1e-6).
"""

from __future__ import annotations

import contextlib
from decimal import ROUND_CEILING, Decimal
from typing import Any

from django.db import transaction
from django.db.models import F

from billing import pricing
from billing.ledger import _tenant_id, open_period, parse_quantity, redis_client
from billing.meters import meter_get
from billing.models import BalanceTransaction, BillingAccount, BillingMode, SpendCap
from billing.rating import assignments_for
from cpaas.core.errors import ApiError

MICRO = Decimal(1_000_000)
STATE_TTL = 60


def _micro(amount: Decimal) -> int:
    return int((amount * MICRO).to_integral_value(rounding=ROUND_CEILING))


def balance_apply(*, tenant_id: str, amount_minor: int, kind: str, reference: str = "", currency: str = "EUR") -> bool:
    """Credit (positive) or debit (negative) a tenant's balance once per (kind, reference)."""
    from billing.invoices import account_get

    account_get(tenant_id)
    with transaction.atomic():
        txs = BalanceTransaction.objects.filter(tenant_id=tenant_id, kind=kind, reference=reference)
        if reference and txs.exists():
            return False
        BalanceTransaction.objects.create(tenant_id=tenant_id, amount_minor=amount_minor, kind=kind,
                                          reference=reference, currency=currency)
        BillingAccount.objects.filter(tenant_id=tenant_id).update(balance_minor=F("balance_minor") + amount_minor)
        account = BillingAccount.objects.get(tenant_id=tenant_id)
        if account.balance_minor > account.low_balance_minor and account.low_balance_notified:
            BillingAccount.objects.filter(tenant_id=tenant_id).update(low_balance_notified=False)
    _forget(tenant_id)
    return True


def balance_top_up(*, tenant_id: str, amount, reference: str = "", actor_key_id: str = "", actor_user_id=None) -> None:
    from cpaas.tenants.audit import audit_record

    value = parse_quantity(amount, "amount")
    account = BillingAccount.objects.filter(tenant_id=tenant_id).first()
    currency = account.currency if account else "EUR"
    with transaction.atomic():
        balance_apply(tenant_id=tenant_id, amount_minor=pricing.to_minor_units(value, currency), kind="top_up",
                      reference=reference, currency=currency)
        audit_record(tenant_id=tenant_id, action="balance.top_up", actor_key_id=actor_key_id,
                     actor_user_id=actor_user_id, target_type="tenant", target_id=tenant_id,
                     metadata={"amount": str(value), "reference": reference})


def _forget(tenant_id: str) -> None:
    client = redis_client()
    if client is not None:
        with contextlib.suppress(Exception):
            client.delete(f"billing:avail:{tenant_id}")


def period_usage_amount(tenant_id: str, *, app_id: str | None = None) -> Decimal:
    """What the open period has cost so far (tax included), from the ledger."""
    from billing.invoices import account_get
    from billing.rating import UsageSource, rate_segment

    period = open_period(_now())
    segments, app_versions = assignments_for(tenant_id, period)
    total = Decimal(0)
    for version, start, end in segments:
        if app_id and app_id in app_versions:
            continue
        source = UsageSource(tenant_id=tenant_id, bill_periods=[period], start=start, end=end,
                             apps_in=[app_id] if app_id else None, apps_not_in=list(app_versions))
        total += sum((line.amount for line in rate_segment(version, source, period_start=period,
                                                           include_fixed=not app_id)), Decimal(0))
    for other_app, version in app_versions.items():
        if app_id and other_app != app_id:
            continue
        source = UsageSource(tenant_id=tenant_id, bill_periods=[period], start=period, end=end_of(period),
                             apps_in=[other_app])
        total += sum((line.amount for line in rate_segment(version, source, period_start=period,
                                                           include_fixed=not app_id)), Decimal(0))
    return total * (1 + account_get(tenant_id).tax_rate)


def end_of(period):
    from billing.ledger import period_after

    return period_after(period)


def _now():
    from django.utils import timezone

    return timezone.now()


def plan_in_effect(tenant_id: str, app_id: str):
    """The plan version rating ``app_id``'s usage now (the app's own, else the tenant's latest
    assignment in the open period), or None when the tenant has no plan."""
    segments, app_versions = assignments_for(tenant_id, open_period(_now()))
    return app_versions.get(app_id) or (segments[-1][0] if segments else None)


def estimate_cost(*, tenant_id: str, app_id: str, meter: str, quantity: Decimal, dimensions: dict,
                  version=None) -> Decimal:
    """A send's upper-bound cost under the plan in effect (monthly flat bands are left to the
    per-minute recompute). ``version``: that plan when the caller already looked it up."""
    version = version or plan_in_effect(tenant_id, app_id)
    if version is None:
        return Decimal(0)
    cost = Decimal(0)
    definition = meter_get(meter)
    for charge in version.charges:
        filt = charge.get("filter") or {}
        if charge["meter"] != meter or not all(str(dimensions.get(k)) == v for k, v in filt.items()):
            continue
        qty = quantity
        if charge.get("increments"):
            first, subsequent = charge["increments"]
            qty = Decimal(pricing.billable_seconds(quantity, first, subsequent)) / 60
        model = charge["model"]
        if definition and definition.aggregation == "unique_count":
            continue
        if model == "per_unit":
            cost += qty * Decimal(charge["unit_price"])
        elif model == "rate_deck":
            hit = pricing.RateDeck.from_mapping(charge["rates"]).lookup(
                destination=str(dimensions.get("destination", "")), country=str(dimensions.get("country", "")))
            cost += qty * (hit[1] if hit else Decimal(0))
        elif model in ("graduated", "volume"):
            cost += qty * max(Decimal(t["unit_price"]) for t in charge["tiers"])
        elif model == "package":
            cost += qty * Decimal(charge["package_price"]) / Decimal(charge["package_size"])
    return cost


def spend_check(*, app, meter: str, quantity, dimensions: dict[str, Any] | None = None) -> None:
    """Refuse (402) a send that would overdraw a prepaid balance or pass the app's monthly cap."""
    app_id, tenant_id = _tenant_id(app)
    account = BillingAccount.objects.filter(tenant_id=tenant_id).only("mode", "tax_rate", "balance_minor",
                                                                       "currency", "low_balance_minor",
                                                                       "low_balance_notified").first()
    cap = SpendCap.objects.filter(app_id=app_id).first()
    prepaid = account is not None and account.mode == BillingMode.PREPAID
    if not prepaid and cap is None:
        return
    value = parse_quantity(quantity)
    cost = estimate_cost(tenant_id=tenant_id, app_id=app_id, meter=meter, quantity=value, dimensions=dimensions or {})
    if account is not None:
        cost *= 1 + account.tax_rate
    cost_micro = _micro(cost)
    client = redis_client()
    if prepaid:
        exp = pricing.CURRENCY_EXPONENT.get(account.currency, 2)
        key = f"billing:avail:{tenant_id}"
        if client is not None and client.exists(key):
            left = client.decrby(key, cost_micro)
            if left < 0:
                client.incrby(key, cost_micro)
        else:
            left = _micro(Decimal(account.balance_minor).scaleb(-exp) - period_usage_amount(tenant_id)) - cost_micro
            if client is not None and left >= 0:
                client.set(key, left, ex=STATE_TTL)
        if left < 0:
            raise ApiError("The prepaid balance is too low for this send; top up to continue.",
                           code="insufficient_funds")
        threshold = _micro(Decimal(account.low_balance_minor).scaleb(-exp))
        if left < threshold and not account.low_balance_notified:
            _notify_low(tenant_id, left, account.currency)
    if cap is not None:
        key = f"billing:cap:{app_id}:{open_period(_now()).isoformat()}"
        limit = _micro(Decimal(cap.monthly_limit_minor).scaleb(-2))
        if client is not None and client.exists(key):
            spent = client.incrby(key, cost_micro)
            if spent > limit:
                client.decrby(key, cost_micro)
        else:
            spent = _micro(period_usage_amount(tenant_id, app_id=app_id)) + cost_micro
            if client is not None and spent <= limit:
                client.set(key, spent, ex=STATE_TTL)
        if spent > limit:
            raise ApiError("This app reached its monthly spend cap.", code="spend_cap_exceeded")


def _notify_low(tenant_id: str, left_micro: int, currency: str) -> None:
    from billing.invoices import _publish

    with transaction.atomic():
        claimed = BillingAccount.objects.filter(tenant_id=tenant_id, low_balance_notified=False).update(
            low_balance_notified=True)
        if claimed:
            _publish(tenant_id, "billing.balance_low",
                     {"tenant": tenant_id, "available": str(pricing.round_money(Decimal(left_micro) / MICRO, currency)),
                      "currency": currency},
                     f"billing.balance_low:{tenant_id}:{open_period(_now()).isoformat()}:{left_micro}")
