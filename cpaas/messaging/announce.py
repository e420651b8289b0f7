"""Stage ``events``: a message's status change becomes a webhook event and a status callback.

Called inside the transaction that moved the status, so the event and the callback row commit
with it (docs/architecture.md, "One SMS, from the API to the carrier and back").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

from django.db import transaction
from django.db.models import F
from django.utils import timezone

import webhooks
from cpaas.messaging import conf, infra
from cpaas.messaging.callbacks import callbacks_deliver
from cpaas.messaging.kicks import CALLBACKS_FLAG, task_send
from cpaas.messaging.models import Message, Mode, Status, StatusCallback
from cpaas.messaging.states import TIMESTAMP, allowed_from
from cpaas.tenants.models import App

EVENTED = {Status.QUEUED, Status.SENT, Status.DELIVERED, Status.UNDELIVERED, Status.FAILED,
           Status.CANCELED, Status.RECEIVED}


def event_data(message: Message) -> dict:
    at = getattr(message, TIMESTAMP[message.status], None) or timezone.now()
    return {
        "id": message.id, "status": message.status, "sequence": message.sequence,
        "direction": message.direction, "to": message.to, "from": message.sender,
        "body": message.body, "segments": message.segments, "encoding": message.encoding,
        "country": message.country, "reference": message.reference or None,
        "error_code": message.error_code or None, "error_message": message.error_message or None,
        "timestamp": at.isoformat(),
    }


class Earlier(NamedTuple):
    """A message's event as of an earlier status in this transaction (``message.sent`` of a
    message its held receipt moves on before the commit): the event's data, taken then."""

    message: Message
    data: dict

    @staticmethod
    def of(message: Message) -> Earlier:
        return Earlier(message, event_data(message))


def announce(messages: Iterable[Message | Earlier], apps: dict[str, App] | None = None) -> None:
    """Publish each message's current status (inside the caller's transaction): one
    ``webhooks.publish_many`` per app and mode and one insert of status callbacks, so a batch
    costs a fixed number of queries."""
    items = [item if isinstance(item, Earlier) else Earlier(item, event_data(item))
             for item in messages if isinstance(item, Earlier) or item.status in EVENTED]
    if not items:
        return
    apps = apps or App.objects.in_bulk({item.message.app_id for item in items})
    groups: dict[tuple[str, bool], list[tuple[str, dict, str]]] = defaultdict(list)
    callbacks = []
    for message, data in items:
        event_type = f"message.{data['status']}"
        groups[(message.app_id, message.mode == Mode.LIVE)].append(
            (event_type, data, f"{message.id}:{data['status']}"))
        if message.status_callback:
            callbacks.append(StatusCallback(
                app_id=message.app_id, message_id=message.id, url=message.status_callback,
                payload={"id": f"{message.id}.{data['sequence']}", "type": event_type,
                         "created": data["timestamp"], "data": data}))
    for (app_id, livemode), events in groups.items():
        webhooks.publish_many(apps[app_id], events, livemode=livemode, returning=False)
    if callbacks:
        StatusCallback.objects.bulk_create(callbacks)
        transaction.on_commit(kick_callbacks)


def transition(message: Message, new: str, **fields) -> bool:
    """Move one message to ``new`` if the table allows it from its current status; publish.

    Returns False (and changes nothing) when the message is no longer in an allowed status.
    """
    now = timezone.now()
    values = {"status": new, TIMESTAMP[new]: now, "sequence": F("sequence") + 1, **fields}
    with transaction.atomic():
        moved = Message.objects.filter(pk=message.pk, status__in=allowed_from(new)).update(**values)
        if not moved:
            message.refresh_from_db(fields=["status"])
            return False
        message.refresh_from_db()
        announce([message])
    return True


def callbacks_drain() -> None:
    """Post due status callbacks until a round finds less than a full batch."""
    while True:
        counts = callbacks_deliver()
        if counts["delivered"] + counts["failed"] < conf.CALLBACK_BATCH:
            return


# A worker process's thread that posts status callbacks as soon as they are committed (started by
# worker.py). A Celery task per wake-up would wait behind dispatch tasks on the ``sms`` queue
# (seconds at load); this thread is woken directly by the commit that stored them. Processes
# without it (the API, tests) wake the ``sms.deliver_callbacks`` task instead; the beat catches
# retries.
callback_sender = infra.Waker("sms-callbacks", callbacks_drain)


def kick_callbacks() -> None:
    if callback_sender.running():
        callback_sender.wake()
        return
    if infra.flag_set_once(CALLBACKS_FLAG, 5):
        task_send("sms.deliver_callbacks")
