"""The message outbox: ``im.message.created`` events and ``im_messages`` usage, off the send path.

A send commits the message row with ``published = false`` (one round trip for the seq and the
row). This drainer claims unpublished rows in batches (``FOR UPDATE SKIP LOCKED``, so several
drainers work side by side without doing a row twice), publishes the batch's
``im.message.created`` events with one ``webhooks.publish_many`` per app (a fixed number of
statements per batch), records the batch's message count per conversation type as one usage
fact, and flips the flag, all in one transaction: an event and its usage exist if and only if the
flag flipped, and the idempotency keys make a replay a no-op. Celery beat runs it every second
(cpaas.im.tasks); ``manage.py im_outbox`` runs a dedicated drainer (decision 0504).
"""

from __future__ import annotations

from collections import Counter, defaultdict

from django.db import transaction

import billing
import webhooks
from cpaas.im.models import Message
from cpaas.im.services import message_data
from cpaas.tenants.models import App

BATCH = 500


def publish_pending(*, limit: int = BATCH) -> int:
    """Publish up to ``limit`` unpublished messages; returns how many."""
    with transaction.atomic():
        rows = list(Message.objects.select_for_update(skip_locked=True, of=("self",))
                    .filter(published=False).select_related("conversation")
                    .order_by("created_at")[:limit])
        if not rows:
            return 0
        apps = {a.pk: a for a in App.objects.filter(pk__in={m.app_id for m in rows})}
        counts: dict[str, Counter] = defaultdict(Counter)  # app -> (kind, mode) -> messages
        events: dict[str, list[tuple[str, dict, str]]] = defaultdict(list)
        for msg in rows:
            events[msg.app_id].append(webhooks.NewEvent(
                "im.message.created", message_data(msg, msg.conversation.kind), f"im.message.created:{msg.id}",
                livemode=msg.conversation.mode == "live"))
            counts[msg.app_id][msg.conversation.kind, msg.conversation.mode] += 1
        for app_id, batch in events.items():
            webhooks.publish_many(apps[app_id], batch, livemode=None, returning=False)  # each its conversation's
        first = rows[0].id
        for app_id, by_kind in counts.items():
            for (kind, mode), quantity in by_kind.items():
                billing.record_usage(apps[app_id], "im_messages", quantity, dimensions={"kind": kind}, mode=mode,
                                     occurred_at=rows[0].created_at,
                                     idempotency_key=f"im_messages:{first}:{kind}:{mode}")
        Message.objects.filter(pk__in=[m.pk for m in rows]).update(published=True)
    return len(rows)


def publish_all(*, rounds: int = 100) -> int:
    total = 0
    for _ in range(rounds):
        done = publish_pending()
        total += done
        if done < BATCH:
            break
    return total
