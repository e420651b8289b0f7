"""Billing: the usage ledger, meters, plans, rating, invoices and exports.

The contract other rooms use is :func:`record_usage` (design.md §2); :func:`usage_batch` (buffer
many calls into batched writes) and :func:`spend_check` (prepaid balance / spend cap gate, 402)
are optional helpers for the channels.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from decimal import Decimal
from typing import Any


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


def spend_check(app, meter: str, quantity: Decimal | int | str, *, dimensions: dict[str, Any] | None = None) -> None:
    """Raise a 402 (``insufficient_funds`` / ``spend_cap_exceeded``) if this usage may not happen."""
    from billing.balances import spend_check as check

    check(app=app, meter=meter, quantity=quantity, dimensions=dimensions)
