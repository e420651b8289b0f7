"""The platform's Celery app for the kill-the-worker test: its processes exit (``os._exit``, as a
kill would) right after journaling a batch's accepted submits, before recording their outcome in
PostgreSQL. Run as ``celery -A tests.messaging.crash_after_submit worker``; production code keeps
no fault-injection hook."""

from __future__ import annotations

import os

from celery.signals import worker_process_init

from cpaas.celery import app

__all__ = ["app"]


@worker_process_init.connect
def _exit_after_the_submit_journal(**_kwargs) -> None:
    from cpaas.messaging import infra  # the app registry is ready only once the process starts

    write = infra.journal_write

    def write_then_die(entries: dict[str, str], ttl: int) -> None:
        write(entries, ttl)
        if any(value.startswith("submitted|") for value in entries.values()):
            os._exit(17)

    infra.journal_write = write_then_die
