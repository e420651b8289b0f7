"""The Celery app. Queues per kind of work: default, sms, voice, im, webhooks, billing.

Each room keeps its periodic tasks in its own ``schedule.py`` as ``BEAT = {name: entry}``; they
are merged here so no room edits another's schedule.
"""

from __future__ import annotations

import importlib
import os
import time

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun, worker_process_shutdown
from prometheus_client import multiprocess

from cpaas.core.context import app_id_var, task_id_var
from cpaas.core.env import env
from cpaas.core.metrics import SENT_AT_HEADER

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

ROOMS_WITH_SCHEDULES = ("cpaas.core", "cpaas.messaging", "cpaas.im", "cpaas.voice", "cpaas.rtc", "webhooks", "billing")


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


@before_task_publish.connect
def _stamp_sent_at(headers=None, **_kwargs) -> None:
    """The publish time in the message, so /metrics can tell how old a queue's oldest task is."""
    if headers is not None:
        headers.setdefault(SENT_AT_HEADER, time.time())


# Context tokens of the tasks running in this thread, so a task run eagerly inside a request gives
# the request its own ids back when it ends.
_log_tokens: dict[str, tuple] = {}


@task_prerun.connect
def _log_context_enter(task_id=None, **_kwargs) -> None:
    """Log records of a task carry its id, and no app of an earlier request or task: a task's
    batch spans many apps, so it names them in its own messages."""
    _log_tokens[task_id] = (task_id_var.set(task_id), app_id_var.set(None))


@task_postrun.connect
def _log_context_leave(task_id=None, **_kwargs) -> None:
    tokens = _log_tokens.pop(task_id, None)
    if tokens is not None:
        task_id_var.reset(tokens[0])
        app_id_var.reset(tokens[1])


@worker_process_shutdown.connect
def _metrics_forget_this_process(pid=None, **_kwargs) -> None:
    """A prefork child that exits takes its live gauges with it (counters stay summed)."""
    directory = env.str("PROMETHEUS_MULTIPROC_DIR", "")
    if directory:
        multiprocess.mark_process_dead(pid or os.getpid(), directory)
