"""Periodic tasks of the IM room (merged into the beat schedule by cpaas/celery.py)."""

from celery.schedules import crontab

BEAT = {
    "im-publish-pending": {"task": "cpaas.im.tasks.publish_pending", "schedule": 1.0},
    "im-purge-expired": {"task": "cpaas.im.tasks.purge_expired", "schedule": crontab(minute=41)},
}
