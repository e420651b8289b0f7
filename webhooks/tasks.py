"""Celery tasks of the webhooks queue. Each is safe to run twice or concurrently."""

from __future__ import annotations

from celery import shared_task

from cpaas.core.tasks import BaseTask


@shared_task(base=BaseTask, name="webhooks.dispatch", queue="webhooks", ignore_result=True)
def dispatch() -> int:
    """Claim due deliveries in batches and send them concurrently until idle.

    Kicked on publish commit (coalesced) and by beat every few seconds for due retries. A
    delivery claimed by a worker that dies becomes due again when its lease ends, so a lost
    task loses nothing.
    """
    from django.utils import timezone

    from webhooks.dispatch import Dispatcher, due_endpoints

    sent = Dispatcher().run()
    if sent and due_endpoints(timezone.now(), limit=1):
        dispatch.delay()  # it stopped claiming with work left (run time is capped): carry on at once
    return sent


@shared_task(base=BaseTask, name="webhooks.disable_failing_endpoints", queue="webhooks", ignore_result=True)
def disable_failing_endpoints() -> int:
    from webhooks.services import endpoints_disable_failing

    return endpoints_disable_failing()


@shared_task(base=BaseTask, name="webhooks.purge_events", queue="webhooks", ignore_result=True)
def purge_events() -> int:
    from webhooks.services import events_purge

    return events_purge()


@shared_task(base=BaseTask, name="webhooks.deliver_callbacks", queue="webhooks", ignore_result=True)
def deliver_callbacks() -> dict:
    """Send due callbacks to one-off URLs (webhooks/callbacks.py) until they stop coming; kicked on
    commit (not while a run is going) and by beat."""
    from webhooks import conf
    from webhooks.callbacks import callbacks_deliver

    return callbacks_deliver(idle_exit=conf.DISPATCH_IDLE_EXIT_SECONDS)
