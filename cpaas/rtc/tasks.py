"""Celery tasks of the RTC room."""

from __future__ import annotations

from celery import shared_task

from cpaas.core.tasks import BaseTask
from cpaas.rtc.services import drop_expired as drop_expired_now


@shared_task(base=BaseTask, name="cpaas.rtc.tasks.drop_expired")
def drop_expired() -> int:
    """Drop participants whose token expired and close rooms past their end time (safe to run twice)."""
    return drop_expired_now()
