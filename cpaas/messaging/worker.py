"""The threads of an SMS worker process, started in one place: :func:`start`, called from Celery's
``worker_process_init`` (connected in tasks.py) in every pool process that consumes the ``sms``
queue.

Nothing else in the room starts a thread in a worker (connectors never do: an SMPP connector's
bind thread is its own I/O, started here or by its first submit). The threads, what they do and
the lock order they keep are in docs/architecture.md, "Threads of an SMS worker":

- ``smpp-<connector>``: one per enabled SMPP connector, its bind's asyncio loop; pushes receipts
  and inbound messages into the sink (``open_binds``);
- ``sms-sink-flusher``: flushes the sink every 50 ms, adopts orphaned receipts every second
  (``flusher_run``);
- ``sms-kicker``: wakes a dispatcher after a commit that queued messages (``kicks.kicker``).

Celery's own thread runs the tasks (dispatch, sweep, …). A process without these threads (the
API, a test) still works: the dispatcher flushes the sink after every batch, the sweeper every
15 s. Status callbacks are not posted here: they are rows of the webhooks room's callback outbox,
sent by the ``webhooks`` workers (decision 0930).
"""

from __future__ import annotations

import logging
import os
import threading
import time

from celery import current_app
from django.db import close_old_connections

from cpaas.messaging import conf
from cpaas.messaging.kicks import SMS_QUEUE, kicker
from cpaas.messaging.models import Connector
from cpaas.messaging.receipts import orphans_adopt
from cpaas.messaging.route import connector_for
from cpaas.messaging.sink import sink

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.05
ADOPT_SECONDS = 1.0

_flusher: threading.Thread | None = None
_flusher_pid = 0
_lock = threading.Lock()


def flusher_run(interval: float = FLUSH_SECONDS) -> None:
    """The ``sms-sink-flusher`` loop: receipts and inbound messages the binds pushed are applied
    in batches; a failed flush keeps them in the sink for the next one."""
    last_adopt = time.monotonic()
    while True:
        time.sleep(interval)
        try:
            sink().flush()
            if time.monotonic() - last_adopt > ADOPT_SECONDS:
                last_adopt = time.monotonic()
                orphans_adopt()
        except Exception:
            log.exception("applying receipts failed")
            close_old_connections()


def flusher_start() -> None:
    global _flusher, _flusher_pid
    with _lock:
        if _flusher is not None and _flusher_pid == os.getpid() and _flusher.is_alive():
            return
        _flusher_pid = os.getpid()
        _flusher = threading.Thread(target=flusher_run, name="sms-sink-flusher", daemon=True)
        _flusher.start()


def open_binds() -> list[str]:
    """Start every enabled SMPP connector's bind in this process, so receipts and MO arrive even
    before it submits anything (and a receipt the SMSC stored for a dead bind finds a home)."""
    close_old_connections()
    opened = []
    for row in Connector.objects.filter(enabled=True, kind=Connector.Kind.SMPP):
        connector = connector_for(row.id)
        if connector is not None:
            connector.start()
            opened.append(row.id)
    return opened


def start(*, binds: bool = True) -> list[str]:
    """Bind the SMPP connectors, then start this process's SMS threads (each at most once per
    process). A receipt that reaches a bind before its flusher runs waits in the sink (50 ms)."""
    opened = open_binds() if binds else []
    flusher_start()
    kicker.start()
    return opened


def consumes_sms_queue() -> bool:
    """Whether this worker consumes the ``sms`` queue (``-Q``; Celery selected the queues in the
    parent before it forked this process). A worker without ``-Q`` consumes only ``default``."""
    return SMS_QUEUE in current_app.amqp.queues.consume_from


def on_process_init(**_kwargs) -> None:
    """Every process of a worker on the ``sms`` queue starts its threads. Workers of other queues
    (webhooks, voice…) start none and open no bind (decision 0912): an SMSC counts binds per
    account, and a bind nobody submits on only takes receipts away. ``SMS_EAGER_BINDS=0`` leaves
    the binds to the first submit."""
    if not consumes_sms_queue():
        return
    binds = conf.EAGER_BINDS
    try:
        start(binds=binds)
    except Exception:  # the database may not be ready yet; binds open on first submit then
        log.exception("could not open SMPP binds at worker start")
        start(binds=False)
