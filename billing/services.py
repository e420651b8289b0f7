"""Writing usage. (Buffered ingestion, rating and invoices arrive with the billing issue.)"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from billing.models import UsageEvent


def usage_record(*, app, meter: str, quantity, subject: str | None,
                 dimensions: dict[str, Any] | None, occurred_at: datetime,
                 idempotency_key: str) -> UsageEvent:
    app_id = getattr(app, "pk", app)
    event, _ = UsageEvent.objects.get_or_create(
        app_id=app_id, idempotency_key=idempotency_key,
        defaults={"meter": meter, "quantity": Decimal(str(quantity)), "subject": subject or "",
                  "dimensions": dimensions or {}, "occurred_at": occurred_at},
    )
    return event
