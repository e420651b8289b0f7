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
from cpaas.messaging import status_callbacks
from cpaas.messaging.models import Message, Mode, Status
from cpaas.messaging.states import TIMESTAMP, allowed_from

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


def announce(messages: Iterable[Message | Earlier]) -> None:
    """Publish each message's current status and record the status callbacks it asked for (inside
    the caller's transaction): one ``webhooks.publish_many`` per app and mode and one insert of
    status callbacks, so a batch costs a fixed number of queries. Apps go by id (publishing needs
    nothing else of them): no App query per batch."""
    items = [item if isinstance(item, Earlier) else Earlier(item, event_data(item))
             for item in messages if isinstance(item, Earlier) or item.status in EVENTED]
    if not items:
        return
    groups: dict[tuple[str, bool], list[tuple[str, dict, str]]] = defaultdict(list)
    for message, data in items:
        groups[(message.app_id, message.mode == Mode.LIVE)].append(
            (f"message.{data['status']}", data, f"{message.id}:{data['status']}"))
    for (app_id, livemode), events in groups.items():
        webhooks.publish_many(app_id, events, livemode=livemode, returning=False)
    status_callbacks.callbacks_record(items)


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
