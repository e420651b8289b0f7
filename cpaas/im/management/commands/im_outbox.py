"""``manage.py im_outbox``: drain the IM message outbox in a process of its own (docs/decisions/0504).

Writing ``im.message.created`` events and ``im_messages`` usage costs about 2 ms of CPU per
message, more than the send itself; in the gateway it held the GIL next to the latency path.
Celery beat runs the same drain every second; this command is the dedicated alternative.
"""

from __future__ import annotations

import logging
import signal
import time

from django.core.management.base import BaseCommand
from django.db import connection

from cpaas.im.outbox import publish_all

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Publish im.message.created events and im_messages usage of stored messages, every --interval seconds."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--interval", type=float, default=0.5)

    def handle(self, *args, **options) -> None:
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        while not stopping:
            try:
                publish_all()
            except Exception:
                log.exception("im outbox drain failed")
                connection.close()
            time.sleep(options["interval"])
