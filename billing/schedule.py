"""Billing's periodic tasks (merged into the beat schedule by cpaas/celery.py)."""

from celery.schedules import crontab

BEAT = {
    "billing-run-previous-period": {"task": "billing.tasks.run_previous_period",
                                    "schedule": crontab(minute=30, hour="0,6,12", day_of_month="1")},
    # A slice of a balance whose process died is reclaimed within LEASE_GRACE + 30 s.
    "billing-leases-sweep": {"task": "billing.tasks.leases_sweep", "schedule": 30.0},
    "billing-finalize-due": {"task": "billing.tasks.finalize_due", "schedule": crontab(minute=45)},
}
