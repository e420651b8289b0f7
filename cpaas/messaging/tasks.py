"""Celery tasks of the SMS room (queue ``sms``). Each moves many messages; all are safe to rerun.

Celery's autodiscovery imports this module in the worker's parent, before the pool forks: the
hook below starts worker.py's threads in each pool process.
"""

from __future__ import annotations

import time

from celery import shared_task
from celery.signals import worker_process_init

from cpaas.carriers.base import DeliveryReceipt
from cpaas.core.tasks import BaseTask
from cpaas.messaging import conf, infra, worker
from cpaas.messaging import sweep as sweeper
from cpaas.messaging.dispatch import dispatch_batch
from cpaas.messaging.kicks import DISPATCH_FLAG, SMS_QUEUE
from cpaas.messaging.receipts import receipts_apply


@shared_task(base=BaseTask, name="sms.dispatch", queue=SMS_QUEUE)
def dispatch() -> int:
    """Claim and submit queued messages in batches until none are left or the time slice ends."""
    infra.flag_clear(DISPATCH_FLAG)
    deadline = time.monotonic() + conf.DISPATCH_SECONDS
    total = 0
    while time.monotonic() < deadline:
        counts = dispatch_batch()
        total += counts["claimed"]
        if counts["claimed"] < conf.DISPATCH_BATCH:
            return total
        if total == counts["claimed"]:
            # A full batch: there is more. Let a second worker process help.
            dispatch.apply_async()
    dispatch.apply_async()
    return total


@shared_task(base=BaseTask, name="sms.apply_receipt", queue=SMS_QUEUE)
def apply_receipt(connector: str, carrier_message_id: str, status: str, error_code: str = "") -> dict:
    return receipts_apply([DeliveryReceipt(connector, carrier_message_id, status, error_code)])


@shared_task(base=BaseTask, name="sms.sweep", queue=SMS_QUEUE)
def sweep() -> dict:
    return sweeper.sweep()


@shared_task(base=BaseTask, name="sms.release_scheduled", queue=SMS_QUEUE)
def release_scheduled() -> int:
    return sweeper.release_scheduled()


worker_process_init.connect(worker.on_process_init)
