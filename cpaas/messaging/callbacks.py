"""Status callbacks: a message's own ``status_callback`` URL, signed like webhooks.

Standard Webhooks headers (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``) with the
app's SMS callback secret, so a receiver verifies them with the ``standardwebhooks`` library as
it is. Due rows are claimed in batches (skip locked) and posted concurrently through the egress
(``cpaas/core/egress``: the SSRF guard, pinned connects, no redirects, capped answers); a URL
whose address the guard refuses fails at once, without retries.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from standardwebhooks import Webhook

from cpaas.core.egress import client, ssrf, sync
from cpaas.messaging import conf
from cpaas.messaging.app_settings import callback_secret
from cpaas.messaging.models import Message, StatusCallback

log = logging.getLogger(__name__)

# Seconds to wait before attempt n+1 (after n failures).
RETRY_SCHEDULE = [5, 30, 120, 600, 1800, 3600, 7200, 14400]

# Bytes of a receiver's answer read (it is not stored); requests in flight at once per origin
# (the 32 threads of the httpx pool this replaced).
MAX_ANSWER_BYTES = 1024
PER_ORIGIN = 32


def _request(row: StatusCallback, secret: str) -> sync.Request:
    body = json.dumps(row.payload, separators=(",", ":"))
    now = timezone.now()
    signature = Webhook(secret).sign(row.payload["id"], now, body)
    headers = {"content-type": "application/json", "webhook-id": row.payload["id"],
               "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature,
               "user-agent": "cpaas-sms-callbacks/1"}
    return sync.Request(row.url, body.encode(), headers)


def _outcome(result: client.Response | Exception) -> tuple[int | None, str, bool]:
    """(status, error, blocked) of one post."""
    if isinstance(result, ssrf.BlockedAddress):
        return None, f"blocked: {result}"[:200], True
    if isinstance(result, TimeoutError):
        return None, f"timed out after {conf.CALLBACK_TIMEOUT_SECONDS} s", False
    if isinstance(result, Exception):
        return None, f"{result.__class__.__name__}: {result}"[:200], False
    if 300 <= result.status < 400:
        return result.status, f"redirect to {result.headers.get('location', '')[:150]} not followed", False
    return result.status, "", False


def callbacks_deliver(limit: int | None = None) -> dict[str, int]:
    """Claim due callbacks, post them, record the outcome. Safe to run concurrently."""
    now = timezone.now()
    limit = limit or conf.CALLBACK_BATCH
    with transaction.atomic():
        rows = list(StatusCallback.objects.select_for_update(skip_locked=True)
                    .filter(delivered_at__isnull=True, next_attempt_at__lte=now,
                            attempts__lt=conf.CALLBACK_MAX_ATTEMPTS)
                    .order_by("next_attempt_at")[:limit])
        lease = now + timedelta(seconds=conf.CALLBACK_TIMEOUT_SECONDS * 3)
        StatusCallback.objects.filter(pk__in=[row.pk for row in rows]).update(
            next_attempt_at=lease, attempts=F("attempts") + 1)
    counts = {"delivered": 0, "failed": 0}
    if not rows:
        return counts
    # Each mode has its own secret (a test key never sees what signs live callbacks).
    modes = dict(Message.objects.filter(pk__in={row.message_id for row in rows}).values_list("id", "mode"))
    secrets = {key: callback_secret(*key) for key in {(row.app_id, modes[row.message_id]) for row in rows}}
    results = sync.post_many([_request(row, secrets[row.app_id, modes[row.message_id]]) for row in rows],
                             timeout=conf.CALLBACK_TIMEOUT_SECONDS, max_body=MAX_ANSWER_BYTES,
                             per_origin=PER_ORIGIN)
    done = timezone.now()
    delivered, failed = [], []
    for row, result in zip(rows, results, strict=True):
        status, error, blocked = _outcome(result)
        attempts = row.attempts + 1
        row.last_status = status
        if status is not None and 200 <= status < 300:
            row.delivered_at, row.last_error = done, ""
            delivered.append(row)
        else:
            delay = RETRY_SCHEDULE[min(attempts - 1, len(RETRY_SCHEDULE) - 1)]
            row.last_error = error or f"HTTP {status}"
            row.next_attempt_at = done + timedelta(seconds=delay)
            # The claim counted this attempt; a refused address is never retried.
            row.attempts = conf.CALLBACK_MAX_ATTEMPTS if blocked else attempts
            failed.append(row)
    if delivered:
        StatusCallback.objects.bulk_update(delivered, ["delivered_at", "last_status", "last_error"])
    if failed:
        StatusCallback.objects.bulk_update(failed, ["last_status", "last_error", "next_attempt_at", "attempts"])
    counts["delivered"], counts["failed"] = len(delivered), len(failed)
    return counts
