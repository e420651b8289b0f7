"""Wake-ups of the SMS room's Celery tasks, addressed by name.

The stages enqueue work (a dispatcher after a commit, a sandbox receipt due later); the tasks
module imports the stages. Sending tasks by name keeps that one way: a stage
never imports ``tasks``.
"""

from __future__ import annotations

from celery import current_app

from cpaas.messaging import conf, infra

SMS_QUEUE = "sms"
DISPATCH_FLAG = "cpaas:sms:dispatch:kick"


def task_send(name: str, args: list | None = None, countdown: float | None = None) -> None:
    """Enqueue the ``sms`` task ``name`` (after the caller's commit, when there is one)."""
    current_app.send_task(name, args=args or [], countdown=countdown, queue=SMS_QUEUE)


def kick_dispatch() -> None:
    """Wake a dispatcher soon (after the caller's commit: call through ``transaction.on_commit``)."""
    kicker.wake(start=True)


def kick_dispatch_now() -> None:
    """Wake a dispatcher unless one was woken and has not started yet (coalesces per-message kicks).

    The flag is cleared by the task as it starts, so a message committed after that sets it again.
    """
    if infra.flag_set_once(DISPATCH_FLAG, conf.KICK_FLAG_SECONDS):
        task_send("sms.dispatch")


# Kicks go from a daemon thread of the process that committed the message, so a request never
# waits on Redis or the broker; kicks asked while one is being sent coalesce into the next, at
# most one per conf.KICK_PAUSE_MS. An SMS worker starts it in worker.start (a HELP reply or a
# released scheduled message kicks from there); an API process, which has no worker init, starts
# it with its first kick. A failed kick is logged; the beat's safety net (every 30 s) still finds
# the message.
kicker = infra.Waker("sms-kicker", kick_dispatch_now, pause=conf.KICK_PAUSE_MS / 1000)
