"""A message's status callbacks: which statuses it asked for, and their rows in the callback outbox.

A message with a ``status_callback`` gets a signed POST for each status change it asked for in
``status_callback_events`` (all by default). The POSTs are rows of the webhooks room's callback
outbox (webhooks/callbacks.py), recorded in the transaction that changes the status and sent by
the webhooks workers through the egress, retried with the same ``webhook-id``. They are signed
with the app's SMS callback secret of the message's mode: one outbox channel per mode, since a
signer is looked up by app id alone (registered in ``MessagingConfig.ready``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import webhooks
from cpaas.core.errors import ApiError
from cpaas.messaging.models import Message, Mode, Status

# The statuses a sent message reports, in the order they happen (``queued`` only for a scheduled
# message whose time came; an accepted send is answered with its ``queued`` status already).
STATUSES = (Status.QUEUED, Status.SENT, Status.DELIVERED, Status.UNDELIVERED, Status.FAILED,
            Status.CANCELED)
# ``"final"``: the one status a message ends in, as a carrier's delivery-receipt mask asks.
FINAL = (Status.DELIVERED, Status.UNDELIVERED, Status.FAILED, Status.CANCELED)
SHORTHANDS = {"all": [], "final": list(FINAL)}


def channel(mode: str, dialect: str = "") -> str:
    """The outbox channel of a message's callbacks: its mode's secret signs them. A message of
    another dialect (sent through the Twilio-compatible API) has that dialect's channels, which
    the dialect's app registers with its own shape and signer (cpaas/twilio/apps.py)."""
    name = "sms" if mode == Mode.LIVE else "sms.test"
    return f"{dialect}.{name}" if dialect else name


def callback_key(message_id: str, status: str) -> str:
    """The outbox idempotency key of one status's callback: recorded once, however often asked."""
    return f"{message_id}:{status}"


def events_parse(value: Any) -> list[str]:
    """The ``status_callback_events`` of a send, as stored: ``[]`` for every status (the default),
    else the statuses asked for in their lifecycle order. Raises ApiError naming the parameter."""
    if value is None:
        return []
    if isinstance(value, str) and value in SHORTHANDS:
        return list(SHORTHANDS[value])
    if not isinstance(value, list) or not value:
        raise ApiError('`status_callback_events` must be a non-empty list of statuses, or "final" or "all".',
                       param="status_callback_events")
    unknown = [item for item in value if item not in STATUSES]
    if unknown:
        raise ApiError(f"`status_callback_events` has {unknown[0]!r}; the statuses are "
                       f"{', '.join(STATUSES)}.", param="status_callback_events")
    wanted = set(value)
    return [] if wanted == set(STATUSES) else [status for status in STATUSES if status in wanted]


def events_of(message: Message) -> list[str]:
    """The statuses the message's status callback hears of (for the API's answer)."""
    return list(message.status_callback_events or STATUSES)


def callbacks_record(events: Iterable[tuple[Message, dict]]) -> None:
    """Record the status callbacks of these ``(message, event data)`` pairs, inside the caller's
    transaction (one INSERT; delivery starts on commit). Messages without a ``status_callback``,
    and statuses a message did not ask for, record nothing."""
    webhooks.send_callbacks(
        webhooks.NewCallback(message.app_id, message.status_callback, f"message.{data['status']}", data,
                             callback_key(message.id, data["status"]), channel(message.mode, message.dialect))
        for message, data in events
        if message.status_callback and (not message.status_callback_events
                                        or data["status"] in message.status_callback_events))
