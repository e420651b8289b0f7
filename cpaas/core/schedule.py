"""Periodic tasks of the plumbing (merged into the beat schedule by cpaas/celery.py)."""

from celery.schedules import crontab

BEAT = {
    "purge-idempotency-keys": {
        "task": "cpaas.core.tasks.purge_idempotency_keys",
        "schedule": crontab(minute=17),
    },
}
