"""Billing's Celery tasks (queue ``billing``): the monthly run, finalization, Stripe pushes."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from cpaas.core.tasks import BaseTask

RUN_SHARDS = 8


@shared_task(base=BaseTask, name="billing.tasks.run_previous_period", queue="billing")
def run_previous_period() -> int:
    """Fan last period's run out to RUN_SHARDS tasks (idempotent; repeats during the grace window)."""
    from datetime import timedelta

    from billing.ledger import period_of

    period = period_of(timezone.now().date().replace(day=1) - timedelta(days=1))
    for index in range(RUN_SHARDS):
        run_shard.delay(period.isoformat(), index, RUN_SHARDS)
    return RUN_SHARDS


@shared_task(base=BaseTask, name="billing.tasks.run_shard", queue="billing")
def run_shard(period: str, index: int, shards: int) -> dict:
    from datetime import date

    from billing.invoices import billing_run

    return billing_run(period_start=date.fromisoformat(period), shard=(index, shards))


@shared_task(base=BaseTask, name="billing.tasks.finalize_due", queue="billing")
def finalize_due() -> int:
    from billing.invoices import finalize_due as finalize

    return finalize()


@shared_task(base=BaseTask, name="billing.tasks.leases_sweep", queue="billing")
def leases_sweep() -> int:
    """Reclaim balance slices whose process died without returning them (decision 1000)."""
    from billing.leases import leases_sweep as sweep

    return sweep()


@shared_task(base=BaseTask, name="billing.tasks.stripe_push_invoice", queue="billing", bind=True)
def stripe_push_invoice(self, invoice_id: str) -> str:
    from billing import stripe_sync

    try:
        return stripe_sync.invoice_push(invoice_id=invoice_id)
    except stripe_sync.TransientStripeError as exc:
        raise self.retry(exc=exc, countdown=self.backoff()) from exc
