"""Money controls for channel tests: a plan in effect now, a prepaid balance or a spend cap, and
the billing Redis state reset (each test's tenant is new, but holds are per app)."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from billing import leases, ledger
from billing.balances import balance_top_up, gates_clear
from billing.invoices import account_get
from billing.models import BillingAccount, SpendCap
from billing.plans import plan_assign, plan_create
from cpaas.core.redis_client import redis_client


def reset_money_state() -> None:
    leases.forget()
    client = redis_client()
    if client is not None:
        for key in client.scan_iter("billing:*"):
            client.delete(key)
    gates_clear()
    ledger._tenant_of_app.clear()


def price(tenant, charges: list[dict], *, code: str = "pay-as-you-go") -> None:
    """Put a plan with ``charges`` in effect for the tenant from the open period on."""
    version = plan_create(code=f"{code}-{tenant.pk[-6:].lower()}", name=code, currency="EUR", fixed_fee="0",
                          minimum_commitment="0", charges=charges)
    now = timezone.now()
    plan_assign(tenant_id=tenant.pk, version=version, effective_from=ledger.open_period(now), now=now)


def prepaid(tenant, balance: str) -> None:
    account_get(tenant.pk)
    BillingAccount.objects.filter(tenant=tenant).update(mode="prepaid")
    if Decimal(balance):
        balance_top_up(tenant_id=tenant.pk, amount=balance, reference=f"test-{balance}")
    gates_clear()


def capped(app, monthly_minor: int) -> None:
    SpendCap.objects.create(app=app, tenant_id=app.tenant_id, monthly_limit_minor=monthly_minor)
    gates_clear()


def held(app) -> int:
    """Micro-units reserved for the app and not yet settled."""
    client = redis_client()
    return int(client.get(f"billing:held:a:{app.pk}") or 0)


def available(tenant) -> int | None:
    value = redis_client().get(f"billing:avail:{tenant.pk}")
    return None if value is None else int(value)
