"""Stage ``dispatch → settle``: one transaction records what the carriers said about a batch.

``sending → sent|failed`` for every row still ``sending`` (locked in id order), the events and
status callbacks (announce.py), one COPY of usage for billing, receipts that arrived before the
settle applied in the same transaction (decision 0410), and after the commit the reserved money
kept or given back. Retries keep their lease with a backoff (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

import billing
from cpaas.carriers.base import DeliveryReceipt
from cpaas.messaging import infra, pricing, queries
from cpaas.messaging.announce import Earlier, announce
from cpaas.messaging.models import Message, Mode, Status
from cpaas.messaging.receipts import orphans_take_for, receipt_apply_to
from cpaas.messaging.sink import sink
from cpaas.messaging.states import can_move


def settle(messages: list[Message], *, accepted: dict[str, tuple[str, str]],
           failed: dict[str, tuple[str, str]], retry_later: list[Message],
           receipts: Iterable[DeliveryReceipt] = ()) -> dict[str, int]:
    """One transaction: ``sending → sent|failed``, events, usage; unknown retries keep their lease.

    ``receipts`` that arrived before this settle (held by the sink, or read back from the receipt
    journal by the sweeper) move their message on to ``delivered|undelivered`` in the same
    transaction, both events published in order (decision 0410).
    """
    now = timezone.now()
    by_id = {message.id: message for message in messages}
    early = {(receipt.connector, receipt.carrier_message_id): receipt for receipt in receipts}
    counts = {"sent": 0, "failed": 0, "retry": 0, "receipts": 0}
    announced: list[Message | Earlier] = []
    used: set[tuple[str, str]] = set()  # the receipts applied here
    with transaction.atomic():
        rows = [by_id[pk] for pk in queries.sending_lock(list(by_id))]
        changed, sent_rows = [], []
        for row in rows:
            tried = by_id[row.id].tried_connectors
            if row.id in accepted:
                name, carrier_id = accepted[row.id]
                row.status, row.sent_at, row.connector, row.carrier_message_id = Status.SENT, now, name, carrier_id
                row.tried_connectors = [*tried, name] if name not in tried else tried
                row.sequence += 1
                row.lease_until = None
                sent_rows.append(row)
                counts["sent"] += 1
                receipt = early.get((name, carrier_id))
                if receipt is not None and can_move(Status.SENT, receipt.status):
                    announced.append(Earlier.of(row))  # message.sent, then the receipt's event
                    receipt_apply_to(row, receipt, now)
                    used.add((name, carrier_id))
                    counts["receipts"] += 1
            elif row.id in failed:
                row.status, row.failed_at = Status.FAILED, now
                row.error_code, row.error_message = failed[row.id]
                row.tried_connectors = tried
                row.sequence += 1
                row.lease_until = None
                counts["failed"] += 1
            else:
                backoff = min(600, 5 * 2 ** min(row.attempts, 7))
                row.lease_until = now + timedelta(seconds=backoff)
                row.tried_connectors = tried
                counts["retry"] += 1
            changed.append(row)
            announced.append(row)
        pricing.price_rows(sent_rows)
        queries.rows_update(changed, ["status", "sent_at", "failed_at", "delivered_at", "undelivered_at",
                                      "connector", "carrier_message_id", "tried_connectors", "sequence",
                                      "lease_until", "error_code", "error_message", "price", "currency"])
        announce(announced)  # retries stay ``sending``: not an evented status
        with billing.usage_batch():  # one COPY for the whole batch, inside this transaction
            for row in sent_rows:  # the app by id: the ledger knows its tenant (no App query per batch)
                billing.record_usage(row.app_id, "sms_segments", row.segments,
                                     dimensions={"country": row.country, "direction": "outbound"},
                                     occurred_at=now, idempotency_key=f"sms:{row.id}", mode=row.mode)
        orphans_take_for(sent_rows)
        # Money: a sent message keeps what was reserved for it, a failed one gives it back.
        holds = [(row.tenant_id, row.app_id, row.id, None if row.status != Status.FAILED else 0)
                 for row in changed if row.mode == Mode.LIVE and row.lease_until is None]
        if holds:
            transaction.on_commit(lambda: billing.spend_settle(holds))
        if early:
            applied = [key for key in early if key in used]
            unused = [receipt for key, receipt in early.items() if key not in used]
            transaction.on_commit(lambda: infra.receipts_journal_delete(applied))
            # Their message was no longer ``sending`` (the sweeper settled it meanwhile) or the
            # move was not allowed here: the database path decides, after this commit.
            transaction.on_commit(lambda: sink().release(unused))
    return counts

