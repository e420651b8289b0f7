"""Billing: the usage ledger, meters, plans, rating, invoices and exports.

The one contract other rooms use is :func:`record_usage` (design.md §2).
"""

from __future__ import annotations

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
):
    """Append one usage fact to the ledger; the same key for the same app counts once."""
    from billing.services import usage_record

    return usage_record(app=app, meter=meter, quantity=quantity, subject=subject,
                        dimensions=dimensions, occurred_at=occurred_at,
                        idempotency_key=idempotency_key)
