"""Webhooks: the event catalog, endpoints, signing and delivery.

The contract other rooms use is :func:`publish` (design.md §2) and its batch form
:func:`publish_many` for hot paths (docs/decisions/0105).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from webhooks.callbacks import NewCallback
    from webhooks.models import Event
    from webhooks.services import NewEvent


def publish(app, type: str, data: dict[str, Any], *, idempotency_key: str, livemode: bool) -> Event:
    """Record an Event for ``app`` inside the caller's transaction; deliveries start on commit.

    The same ``idempotency_key`` for the same app records the event once. ``livemode``: True
    for live activity, False for test mode (sk_test_ keys, sandbox), required: the event reaches
    only endpoints of that mode and is listed only to keys of that mode (docs/decisions/0890).
    """
    from webhooks.services import event_publish

    return event_publish(app=app, type=type, data=data, idempotency_key=idempotency_key, livemode=livemode)


def publish_many(app, events: Iterable[NewEvent | tuple[str, dict[str, Any], str]], *,
                 livemode: bool | None, returning: bool = True) -> list[Event] | None:
    """:func:`publish` for a batch: ``events`` are ``(type, data, idempotency_key)`` tuples (or
    ``webhooks.NewEvent``, which may also carry its own ``livemode``). ``livemode`` (required)
    is the batch's mode; ``None`` only when every ``NewEvent`` states its own: an event left
    without a mode raises TypeError and nothing is recorded.

    Same semantics as one ``publish`` per item, in order, with a fixed number of queries per
    batch. Returns one Event per item (the existing one for a key already recorded), or None
    with ``returning=False``: a hot path that does not look at them saves building them.
    """
    from webhooks.services import events_publish

    return events_publish(app=app, events=events, livemode=livemode, returning=returning)


def __getattr__(name: str):
    if name == "NewEvent":
        from webhooks.services import NewEvent

        return NewEvent
    if name == "NewCallback":
        from webhooks.callbacks import NewCallback

        return NewCallback
    raise AttributeError(name)


def send_callback(app, url: str, type: str, data: dict[str, Any], *, idempotency_key: str, channel: str) -> None:
    """Record a signed POST to a one-off ``url`` (a ``status_callback``) inside the caller's
    transaction; it is sent after commit and retried on the webhooks schedule. ``channel``
    names the registered signer whose per-app secret signs it (webhooks/callbacks.py)."""
    from webhooks.callbacks import send_callback as _send

    _send(app, url, type, data, idempotency_key=idempotency_key, channel=channel)


def send_callbacks(callbacks: Iterable[NewCallback]) -> None:
    """:func:`send_callback` for a batch of ``webhooks.NewCallback`` (hot paths): one INSERT and
    one kick on commit."""
    from webhooks.callbacks import send_callbacks as _send_many

    _send_many(callbacks)


def callbacks_with_keys(app_id: str, idempotency_keys: Iterable[str]) -> list:
    """The recorded callbacks of one app with these keys, oldest first, so a channel's console can
    show how its status callbacks fared (exact keys: the unique index answers, no prefix scan)."""
    from webhooks.callback_models import Callback

    return list(Callback.objects.filter(app_id=app_id, idempotency_key__in=list(idempotency_keys))
                .order_by("created_at", "id"))
