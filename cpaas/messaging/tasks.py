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

# How long a run's hold on the kick flag lasts; the run refreshes it every second. A run that dies
# (a killed worker) frees the kicks within this, instead of leaving new sends to beat's 30 s sweep.
RUN_HOLD_SECONDS = 2


@shared_task(base=BaseTask, name="sms.dispatch", queue=SMS_QUEUE)
def dispatch(idle_ms: int | None = None) -> int:
    """Claim and submit queued messages in batches while they keep coming, until none came for
    ``idle_ms`` (conf.DISPATCH_IDLE_MS) or the time slice ends.

    The run holds the kick flag, so sends committed meanwhile enqueue no task; it polls every
    DISPATCH_POLL_MS instead. Before leaving it clears the flag and claims once more: a message
    committed after its last empty claim is either taken by that claim or kicks the next run.
    """
    idle = (conf.DISPATCH_IDLE_MS if idle_ms is None else idle_ms) / 1000
    started = last_work = held = time.monotonic()
    deadline = started + conf.DISPATCH_SECONDS
    infra.flag_hold(DISPATCH_FLAG, RUN_HOLD_SECONDS)
    total = 0
    helped = False
    while True:
        claimed = dispatch_batch()["claimed"]
        total += claimed
        now = time.monotonic()
        if claimed:
            last_work = now
        if claimed >= conf.DISPATCH_BATCH and not helped:
            helped = True
            dispatch.apply_async()  # a full batch: there is more; let a second worker process help
        if now >= deadline:
            infra.flag_clear(DISPATCH_FLAG)
            dispatch.apply_async()  # hand over to a fresh task
            return total
        if claimed >= conf.DISPATCH_BATCH:
            continue
        if now - last_work >= idle:
            infra.flag_clear(DISPATCH_FLAG)
            claimed = dispatch_batch()["claimed"]
            if not claimed:
                return total
            total += claimed
            last_work = held = time.monotonic()
            infra.flag_hold(DISPATCH_FLAG, RUN_HOLD_SECONDS)
            continue
        if now - held >= 1:
            held = now
            infra.flag_hold(DISPATCH_FLAG, RUN_HOLD_SECONDS)
        time.sleep(conf.DISPATCH_POLL_MS / 1000)


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
