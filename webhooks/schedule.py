"""Periodic tasks of the webhooks room (merged into the beat schedule by cpaas/celery.py)."""

from celery.schedules import crontab

from webhooks import conf

BEAT = {
    # Retries wait in PostgreSQL (next_attempt_at), not as Celery countdowns: this claims them.
    "webhooks-dispatch-due": {
        "task": "webhooks.dispatch",
        "schedule": conf.SWEEP_SECONDS,
        "options": {"queue": "webhooks", "expires": max(1.0, conf.SWEEP_SECONDS)},
    },
    # Callbacks to one-off URLs (webhooks/callbacks.py) wait in PostgreSQL the same way.
    "webhooks-deliver-callbacks-due": {
        "task": "webhooks.deliver_callbacks",
        "schedule": conf.SWEEP_SECONDS,
        "options": {"queue": "webhooks", "expires": max(1.0, conf.SWEEP_SECONDS)},
    },
    "webhooks-disable-failing-endpoints": {
        "task": "webhooks.disable_failing_endpoints",
        "schedule": crontab(minute="*/10"),
        "options": {"queue": "webhooks"},
    },
    "webhooks-purge-events": {
        "task": "webhooks.purge_events",
        "schedule": crontab(hour=3, minute=41),
        "options": {"queue": "webhooks"},
    },
}
