"""The sweeper (beat): messages whose lease ran out are reconciled from the submit journal, and
scheduled messages whose time came are queued. Nothing is lost to a crashed worker or a lost
task; nothing is submitted twice to a carrier that may have taken it (dispatch.py)."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from cpaas.carriers.base import DeliveryReceipt
from cpaas.messaging import conf, infra
from cpaas.messaging.announce import announce
from cpaas.messaging.dispatch import messages_dispatch
from cpaas.messaging.kicks import kick_dispatch
from cpaas.messaging.models import Message, Status
from cpaas.messaging.receipts import orphans_adopt
from cpaas.messaging.settle import settle
from cpaas.messaging.sink import sink


def sweep(limit: int = 500) -> dict[str, int]:
    """Reconcile ``sending`` messages whose lease ran out (crashed worker, lost task, retry due)."""
    now = timezone.now()
    counts = {"reclaimed": 0, "recovered_sent": 0, "resubmitted": 0, "expired": 0}
    with transaction.atomic():
        ids = list(Message.objects.select_for_update(skip_locked=True)
                   .filter(status=Status.SENDING, lease_until__lt=now).order_by("lease_until")
                   .values_list("id", flat=True)[:limit])
        Message.objects.filter(id__in=ids, status=Status.SENDING, lease_until__lt=now).update(
            lease_until=now + timedelta(seconds=conf.LEASE_SECONDS), attempts=F("attempts") + 1)
    if not ids:
        orphans_adopt()
        return counts
    counts["reclaimed"] = len(ids)
    messages = list(Message.objects.filter(id__in=ids, status=Status.SENDING))
    journal = infra.journal_read([message.id for message in messages])
    accepted, resubmit, expired = {}, [], {}
    for message in messages:
        entry = journal.get(message.id, "")
        parts = entry.split("|")
        if parts[0] == "submitted":
            accepted[message.id] = (parts[1], parts[2])
            continue
        if parts[0] == "submitting" and parts[1] not in message.tried_connectors:
            # Unknown whether that carrier took it: never give it to that carrier again.
            message.tried_connectors = [*message.tried_connectors, parts[1]]
        if message.attempts > 10 or (message.validity_period and message.created_at
                                     + timedelta(seconds=message.validity_period) < now):
            expired[message.id] = ("expired", "The message could not be submitted within its validity.")
            continue
        resubmit.append(message)
    if accepted or expired:
        settled = [m for m in messages if m.id in accepted or m.id in expired]
        journaled = infra.receipts_journal_read(list(accepted.values()))
        receipts = [DeliveryReceipt(connector, carrier_id, status, error)
                    for (connector, carrier_id), (status, error) in journaled.items()]
        settle(settled, accepted=accepted, failed=expired, retry_later=[], receipts=receipts)
    counts["recovered_sent"], counts["expired"] = len(accepted), len(expired)
    if resubmit:
        Message.objects.bulk_update(resubmit, ["tried_connectors"])
        messages_dispatch(resubmit)
        counts["resubmitted"] = len(resubmit)
    sink().flush()
    orphans_adopt()
    return counts


def release_scheduled(limit: int = 1000) -> int:
    """``scheduled → queued`` for messages whose send time came; publish message.queued."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(Message.objects.select_for_update(skip_locked=True)
                   .filter(status=Status.SCHEDULED, send_at__lte=now).values_list("id", flat=True)[:limit])
        if not ids:
            return 0
        Message.objects.filter(id__in=ids, status=Status.SCHEDULED).update(
            status=Status.QUEUED, queued_at=now, sequence=F("sequence") + 1)
        announce(list(Message.objects.filter(id__in=ids, status=Status.QUEUED)))
        transaction.on_commit(kick_dispatch)
    return len(ids)
