"""Billing test helpers: plans, usage at a given time, and a clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from billing import ledger
from billing.plans import plan_assign, plan_create
from cpaas.core.redis_client import redis_client


def at(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clean_redis_marks():
    client = redis_client()
    if client is not None:
        for key in client.scan_iter("billing:*"):
            client.delete(key)
    ledger._tenant_of_app.clear()
    yield


_counter = iter(range(10**9))


def use(app, meter, quantity, occurred, *, received=None, key=None, subject=None, mode="live", **dims):
    """Record one event as if it arrived at ``received`` (default: when it occurred)."""
    with time_machine.travel(received or occurred, tick=False):
        return ledger.usage_record(app=app, meter=meter, quantity=quantity, subject=subject,
                                   dimensions=dims or None, occurred_at=occurred,
                                   idempotency_key=key or f"k{next(_counter)}", mode=mode)


def make_plan(tenant, *, code="plan", charges=(), fixed_fee="0", minimum="0", currency="EUR",
              effective_from=None, app=None, prorate=False, now=None):
    version = plan_create(code=code, name=code.title(), currency=currency, fixed_fee=fixed_fee,
                          minimum_commitment=minimum, charges=list(charges))
    plan_assign(tenant_id=tenant.pk, version=version, app_id=getattr(app, "pk", None),
                effective_from=effective_from or datetime(2026, 10, 1).date(), prorate=prorate,
                now=now or at(2026, 9, 15))
    return version
