"""Celery tasks of the SMS room (queue ``sms``). Each moves many messages; all are safe to rerun."""

from __future__ import annotations

import time

from celery import current_app, shared_task
from celery.signals import worker_process_init

from cpaas.core.tasks import BaseTask
from cpaas.messaging import conf, infra

SMS_QUEUE = "sms"


@shared_task(base=BaseTask, name="sms.dispatch", queue=SMS_QUEUE)
def dispatch() -> int:
    """Claim and submit queued messages in batches until none are left or the time slice ends."""
    from cpaas.messaging import pipeline

    infra.flag_clear("cpaas:sms:dispatch:kick")
    deadline = time.monotonic() + conf.DISPATCH_SECONDS
    total = 0
    while time.monotonic() < deadline:
        counts = pipeline.dispatch_batch()
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
    from cpaas.carriers.base import DeliveryReceipt
    from cpaas.messaging import pipeline

    return pipeline.receipts_apply([DeliveryReceipt(connector, carrier_message_id, status, error_code)])


@shared_task(base=BaseTask, name="sms.sweep", queue=SMS_QUEUE)
def sweep() -> dict:
    from cpaas.messaging import pipeline

    return pipeline.sweep()


@shared_task(base=BaseTask, name="sms.release_scheduled", queue=SMS_QUEUE)
def release_scheduled() -> int:
    from cpaas.messaging import pipeline

    return pipeline.release_scheduled()


@shared_task(base=BaseTask, name="sms.deliver_callbacks", queue=SMS_QUEUE)
def deliver_callbacks() -> dict:
    from cpaas.messaging.callbacks import callbacks_deliver

    infra.flag_clear("cpaas:sms:callbacks:kick")
    totals = {"delivered": 0, "failed": 0}
    while True:
        counts = callbacks_deliver()
        for key in totals:
            totals[key] += counts[key]
        if counts["delivered"] + counts["failed"] < conf.CALLBACK_BATCH:
            return totals


def consumes_sms_queue() -> bool:
    """Whether this worker consumes the ``sms`` queue (``-Q``; Celery selected the queues in the
    parent before it forked this process). A worker without ``-Q`` consumes only ``default``."""
    return SMS_QUEUE in current_app.amqp.queues.consume_from


@worker_process_init.connect
def _open_binds(**_kwargs) -> None:
    """Every process of a worker on the ``sms`` queue binds its SMPP connectors at start, so
    receipts and MO arrive even before it submits anything (and a receipt stored by the SMSC for a
    dead bind finds a home). Workers of other queues (webhooks, voice…) open none (decision 0912):
    an SMSC counts binds per account, and a bind nobody submits on only takes receipts away."""
    if not conf.EAGER_BINDS or not consumes_sms_queue():
        return
    from cpaas.messaging import pipeline

    try:
        pipeline.open_binds()
    except Exception:  # the database may not be ready yet; binds open on first submit then
        import logging

        logging.getLogger(__name__).exception("could not open SMPP binds at worker start")
