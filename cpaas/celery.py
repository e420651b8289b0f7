"""The Celery app. Queues per kind of work: default, sms, voice, im, webhooks, billing.

Each room keeps its periodic tasks in its own ``schedule.py`` as ``BEAT = {name: entry}``; they
are merged here so no room edits another's schedule.
"""

from __future__ import annotations

import importlib
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cpaas.settings")

app = Celery("cpaas")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

ROOMS_WITH_SCHEDULES = ("cpaas.core", "cpaas.messaging", "cpaas.im", "cpaas.voice", "webhooks", "billing")


def beat_schedule() -> dict:
    schedule: dict = {}
    for room in ROOMS_WITH_SCHEDULES:
        try:
            module = importlib.import_module(f"{room}.schedule")
        except ModuleNotFoundError as exc:
            if exc.name != f"{room}.schedule":
                raise
            continue
        schedule.update(module.BEAT)
    return schedule


app.conf.beat_schedule = beat_schedule()
