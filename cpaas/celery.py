"""The Celery app. Queues per kind of work: default, sms, voice, im, webhooks, billing.

Each room keeps its periodic tasks in its own ``schedule.py`` as ``BEAT = {name: entry}``; they
are merged here so no room edits another's schedule.
"""

from __future__ import annotations

import importlib
import os

from celery import Celery
from celery.signals import task_prerun

from cpaas.core.env import env

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cpaas.settings")

app = Celery("cpaas")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fixup closes every database connection before and after each task unless this
# is set: a fresh PostgreSQL backend per task, whose cold catalog caches cost more CPU than the
# SMS dispatch task's own queries (a third of a core at 1,000 messages/s). Connections now live
# as Django's do between requests: CONN_MAX_AGE, health checks and close_old_connections() at
# each task's start (below), and the fixup still closes them every 1,000 tasks.
app.conf["CELERY_DB_REUSE_MAX"] = env.int("CELERY_DB_REUSE_MAX", 1000)
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


@task_prerun.connect
def _database_connections_as_between_requests(task=None, **_kwargs) -> None:
    """Drop a connection past CONN_MAX_AGE or broken (health check), as Django does per request.
    Not for a task run eagerly: it runs inside its caller's request or transaction."""
    if task is not None and task.request.is_eager:
        return
    from django.db import close_old_connections

    close_old_connections()
