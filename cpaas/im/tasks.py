"""Celery tasks of the IM room (queue ``im``)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from cpaas.core.tasks import BaseTask
from cpaas.im import conf


@shared_task(base=BaseTask, name="cpaas.im.tasks.publish_pending", queue="im")
def publish_pending() -> int:
    """The outbox drainer (every second from beat): events and usage of stored messages."""
    from cpaas.im.outbox import publish_all

    return publish_all()


@shared_task(base=BaseTask, name="cpaas.im.tasks.purge_expired", queue="im")
def purge_expired() -> int:
    """Delete messages past the history retention (sync serves only SYNC_RETENTION_DAYS anyway)."""
    from cpaas.im.models import ImToken, Message

    cutoff = timezone.now() - timedelta(days=conf.HISTORY_RETENTION_DAYS)
    deleted, _ = Message.objects.filter(created_at__lt=cutoff, published=True).delete()
    ImToken.objects.filter(expires_at__lt=timezone.now() - timedelta(days=1)).delete()
    return deleted
