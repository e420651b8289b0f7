"""The Celery app. Queues per kind of work: default, sms, voice, im, webhooks, billing."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cpaas.settings")

app = Celery("cpaas")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "purge-idempotency-keys": {
        "task": "cpaas.core.tasks.purge_idempotency_keys",
        "schedule": crontab(minute=17),
    },
}
