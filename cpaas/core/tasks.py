"""Housekeeping tasks of the plumbing, and the base task every room's tasks derive from."""

from __future__ import annotations

import random

from celery import Task, shared_task


class BaseTask(Task):
    """Late ack, requeue on worker loss, retries with exponential backoff and full jitter.

    Subclasses (or ``@shared_task(base=BaseTask)``) take ids, not objects, and must be safe to
    run twice: claim rows with conditional UPDATEs before any side effect.
    """

    acks_late = True
    reject_on_worker_lost = True
    max_retries = 8
    retry_backoff_base = 2.0
    retry_backoff_max = 600.0

    def backoff(self) -> float:
        ceiling = min(self.retry_backoff_max, self.retry_backoff_base ** (self.request.retries + 1))
        return random.uniform(0, ceiling)


@shared_task(base=BaseTask, name="cpaas.core.tasks.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    from cpaas.core.idempotency import idempotency_purge

    return idempotency_purge()


@shared_task(base=BaseTask, name="cpaas.core.tasks.ping")
def ping(token: str) -> str:
    """Round-trip check used by health checks and the worker integration test."""
    from django.core.cache import cache

    cache.set(f"cpaas:ping:{token}", "pong", 60)
    return "pong"
