"""Stage ``receipts → apply``: delivery receipts move ``sent`` messages to ``delivered`` or
``undelivered``; receipts that outran their submit wait as orphans until the submit settles.

Status only moves forward (states.py): a late or doubled receipt changes nothing. Rows are locked
in id order (docs/architecture.md, "Lock order and leases").
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from cpaas.carriers.base import DeliveryReceipt
from cpaas.core import metrics
from cpaas.messaging import queries
from cpaas.messaging.announce import announce
from cpaas.messaging.models import Message, ReceiptOrphan, Status
from cpaas.messaging.states import TIMESTAMP, can_move


def receipt_apply_to(row: Message, receipt: DeliveryReceipt, now) -> None:
    """``sent → delivered|undelivered`` in memory (the caller checked the move and writes the row)."""
    row.status = receipt.status
    setattr(row, TIMESTAMP[receipt.status], now)
    if receipt.status == Status.UNDELIVERED:
        row.error_code = receipt.error_code or "undelivered"
        row.error_message = f"The carrier could not deliver the message ({row.error_code})."
    row.sequence += 1


def receipts_apply(receipts: list[DeliveryReceipt]) -> dict[str, int]:
    """Apply delivery receipts; unknown carrier ids wait as orphans; late or doubled ones do
    nothing."""
    counts = {"applied": 0, "ignored": 0, "orphaned": 0}
    if not receipts:
        return counts
    now = timezone.now()
    latest: dict[tuple[str, str], DeliveryReceipt] = {}
    for receipt in receipts:
        latest[(receipt.connector, receipt.carrier_message_id)] = receipt
    with transaction.atomic():
        rows = queries.messages_lock_by_carrier_id(list(latest))
        found = {(row.connector, row.carrier_message_id): row for row in rows}
        changed = []
        for key, receipt in latest.items():
            row = found.get(key)
            if row is None:
                continue
            if not can_move(row.status, receipt.status):
                counts["ignored"] += 1
                continue
            receipt_apply_to(row, receipt, now)
            changed.append(row)
        queries.rows_update(changed, ["status", "delivered_at", "undelivered_at", "error_code",
                                      "error_message", "sequence"])
        counts["applied"] = len(changed)
        announce(changed)
        missing = [receipt for key, receipt in latest.items() if key not in found]
        orphans = [ReceiptOrphan(connector=receipt.connector, carrier_message_id=receipt.carrier_message_id,
                                 status=receipt.status, error_code=receipt.error_code) for receipt in missing]
        if orphans:
            ReceiptOrphan.objects.bulk_create(orphans, ignore_conflicts=True)
            counts["orphaned"] = len(orphans)
    metrics.count_receipts(changed)
    return counts


def orphans_take_for(sent_rows: list[Message]) -> None:
    """Receipts that outran their submit's status update: apply them now (the settle's transaction)."""
    if not sent_rows:
        return
    found = queries.orphans_take([(row.connector, row.carrier_message_id) for row in sent_rows])
    if found:
        receipts_apply([DeliveryReceipt(*row) for row in found])


def orphans_adopt(limit: int = 1000) -> int:
    """Receipts parked as orphans whose message now has its carrier id: apply them.

    A receipt can land between a settle's own orphan check and its commit; this sweep (run by the
    flusher every second and by the sweeper) catches those. Orphans nobody claims in 7 days go.
    """
    ready = queries.orphans_adoptable(limit)
    if ready:
        with transaction.atomic():
            taken = ReceiptOrphan.objects.filter(pk__in=[o.pk for o in ready]).delete()[0]
            if taken:
                receipts_apply([DeliveryReceipt(o.connector, o.carrier_message_id, o.status, o.error_code)
                                for o in ready])
    ReceiptOrphan.objects.filter(received_at__lt=timezone.now() - timedelta(days=7)).delete()
    return len(ready)

