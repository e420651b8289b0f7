"""Billing: the usage ledger, meters, plans, rating, invoices and exports.

The contract other rooms use is :func:`record_usage` (design.md §2); :func:`usage_batch` (buffer
many calls into batched writes); :func:`spend_reserve` / :func:`spend_settle` (prepaid balance and
spend cap gate, 402, before every billable action is accepted, decision 0820).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class Hold:
    """One billable action to reserve; ``id`` (a message id, ``<call id>:<leg role>``) is what its
    settle names again. An empty ``id`` charges the estimate at once, with nothing to settle (IM
    messages, whose usage the outbox records within a second)."""

    id: str
    meter: str
    quantity: Decimal | int | str
    dimensions: dict[str, Any] | None = None


def record_usage(
    app,
    meter: str,
    quantity: Decimal | int | str,
    *,
    subject: str | None = None,
    dimensions: dict[str, Any] | None = None,
    occurred_at: datetime,
    idempotency_key: str,
    mode: str,
):
    """Append one usage fact to the ledger; the same key for the same app and mode counts once.

    ``mode`` is the mode (``"test"`` / ``"live"``) of the key that caused the usage: required, so
    no caller can forget it; test usage is kept and shown but never invoiced (design.md §7).
    Written inside the caller's transaction (or buffered until the enclosing ``usage_batch()``
    exits). The same key with different content raises a 409 ``usage_key_conflict``.
    """
    from billing.ledger import usage_record

    return usage_record(app=app, meter=meter, quantity=quantity, subject=subject,
                        dimensions=dimensions, occurred_at=occurred_at,
                        idempotency_key=idempotency_key, mode=mode)


def usage_batch() -> contextlib.AbstractContextManager:
    """``with billing.usage_batch(): …record_usage(...)…`` writes the calls in batches on exit."""
    from billing.ledger import usage_batch as batch

    return batch()


def spend_reserve(*, tenant_id: str, app_id: str, mode: str, holds: list) -> list:
    """Reserve billable actions before accepting them (design.md §7 "money before traffic").

    ``holds``: :class:`Hold` items (id, meter, quantity, dimensions). Returns one
    entry per hold: None (reserved) or the 402 ``ApiError`` (``insufficient_funds`` /
    ``spend_cap_exceeded``) that refuses it. Test mode and postpaid apps without a cap cost no
    I/O; otherwise one Redis round trip (decision 0820), or none while this process's slice of
    the money covers the holds (decision 1000). Blocking: near an exhausted balance a refusal may
    wait up to ``billing.leases.REFUSAL_WAIT`` (0.3 s) for other processes' slices, so async
    callers run it in a thread.
    """
    from billing.balances import spend_reserve as reserve

    return reserve(tenant_id=tenant_id, app_id=app_id, mode=mode, holds=holds)


def spend_settle(entries: list[tuple[str, str, str, int | None]]) -> None:
    """Settle holds after the commit that decided them: ``(tenant_id, app_id, hold_id, real)``
    with ``real`` None (charged as reserved), 0 (released) or the real cost in micro-units."""
    from billing.balances import spend_settle as settle

    settle(entries)


def spend_settle_usage(app, *, hold_id: str, meter: str, quantity, dimensions: dict | None = None) -> None:
    """Settle a live hold with the cost of the usage that really happened (a call leg's billable
    seconds; 0 releases it). Nothing to do for postpaid apps without a cap. Call after commit."""
    from billing.balances import spend_settle_usage as settle_usage

    settle_usage(app, hold_id=hold_id, meter=meter, quantity=quantity, dimensions=dimensions)
