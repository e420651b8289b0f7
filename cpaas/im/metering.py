"""DAU and message metering: exact counts, cheap on the hot path.

A user is active on a UTC day when they connect or send. The first activity of a (user, day)
records ``im_dau`` in the billing ledger with the idempotency key ``dau:<user>:<day>``; a Redis set
per app, mode and day (and a small in-process set) in front of it means later activity costs a set
lookup, not a database write. The set is filled only after the ledger row committed, so a crash in
between records the usage again next time, and the ledger's key makes that a no-op: exact, no
HyperLogLog.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time

from django.db import transaction
from django.utils import timezone

import billing
from cpaas.core.errors import ApiError
from cpaas.im.state import state

_lock = threading.Lock()
_seen: set[tuple[str, str, str]] = set()
_seen_day = ""


def _local_seen(key: tuple[str, str, str]) -> bool:
    global _seen_day
    with _lock:
        if key[2] != _seen_day:
            _seen.clear()
            _seen_day = key[2]
        return key in _seen


def _local_add(key: tuple[str, str, str]) -> None:
    with _lock:
        if len(_seen) > 500_000:
            _seen.clear()
        _seen.add(key)


def dau_known(*, app, user_id: str, when: datetime, mode: str) -> bool:
    """True when ``user_id``'s activity of that UTC day is already recorded (no write needed)."""
    app_id = getattr(app, "pk", app)
    day = when.astimezone(UTC).date().isoformat()
    key = (app_id, user_id, day)
    if _local_seen(key):
        return True
    if state().dau_seen(app_id, mode, day, user_id):
        _local_add(key)
        return True
    return False


def dau_touch(*, app, user_id: str, when: datetime | None = None, mode: str) -> bool:
    """Mark ``user_id`` active today; returns True when this call recorded the day's usage.

    Call inside a transaction (or autocommit); the marker sets are updated on commit.
    """
    when = when or timezone.now()
    if dau_known(app=app, user_id=user_id, when=when, mode=mode):
        return False
    app_id = getattr(app, "pk", app)
    day = when.astimezone(UTC).date().isoformat()
    key = (app_id, user_id, day)
    # The fact is "active on this UTC day": stamp it at the day's start, so a repeat (a race
    # between two gateways, or a retry before the marker is set) is identical and deduplicates.
    day_start = datetime.combine(when.astimezone(UTC).date(), time.min, tzinfo=UTC)
    billing.record_usage(app, "im_dau", 1, subject=user_id, occurred_at=day_start,
                         idempotency_key=f"dau:{user_id}:{day}", mode=mode)

    def mark() -> None:
        state().dau_add(app_id, mode, day, user_id)
        _local_add(key)

    transaction.on_commit(mark)
    return True


def messages_reserve(*, app, kind: str, count: int = 1, mode: str) -> list[ApiError | None]:
    """Money before traffic: IM messages are priced per message (``im_messages`` by ``kind``), so
    each send is charged against the prepaid balance and the app's cap before it is accepted
    (402 otherwise). Free for postpaid apps without a cap; else one Redis call for all ``count``."""
    hold = billing.Hold("", "im_messages", 1, {"kind": kind})
    return billing.spend_reserve(tenant_id=app.tenant_id, app_id=app.pk, mode=mode, holds=[hold] * count)


def message_count(*, app, sender_id: str, message_id: str, when: datetime, conversation_type: str,
                  mode: str) -> None:
    """One ``im_messages`` usage; its dimension is ``kind`` (the conversation type), as plans price it."""
    billing.record_usage(app, "im_messages", 1, subject=sender_id or None,
                         dimensions={"kind": conversation_type}, occurred_at=when,
                         idempotency_key=f"im_msg:{message_id}", mode=mode)


def reset_local_cache() -> None:
    with _lock:
        _seen.clear()
