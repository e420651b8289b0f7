"""Status callbacks: a message's own ``status_callback`` URL, signed like webhooks.

Standard Webhooks headers (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``) with the
app's SMS callback secret, so a receiver verifies them with the ``standardwebhooks`` library as
it is. Due rows are claimed in batches (skip locked) and posted concurrently.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from standardwebhooks import Webhook

from cpaas.messaging import conf
from cpaas.messaging.models import Message, StatusCallback

log = logging.getLogger(__name__)

# Seconds to wait before attempt n+1 (after n failures).
RETRY_SCHEDULE = [5, 30, 120, 600, 1800, 3600, 7200, 14400]

_client: httpx.Client | None = None


def http_client() -> httpx.Client:
    global _client
    if _client is None:
        _client = httpx.Client(timeout=conf.CALLBACK_TIMEOUT_SECONDS, follow_redirects=False,
                               limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))
    return _client


def _post(row: StatusCallback, secret: str) -> tuple[int | None, str]:
    body = json.dumps(row.payload, separators=(",", ":"))
    now = timezone.now()
    signature = Webhook(secret).sign(row.payload["id"], now, body)
    headers = {"content-type": "application/json", "webhook-id": row.payload["id"],
               "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature,
               "user-agent": "cpaas-sms-callbacks/1"}
    try:
        response = http_client().post(row.url, content=body, headers=headers)
        return response.status_code, ""
    except httpx.HTTPError as exc:
        return None, f"{exc.__class__.__name__}: {exc}"[:200]


def callbacks_deliver(limit: int | None = None) -> dict[str, int]:
    """Claim due callbacks, post them, record the outcome. Safe to run concurrently."""
    from cpaas.messaging.services import callback_secret

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
    with ThreadPoolExecutor(max_workers=min(32, len(rows))) as pool:
        outcomes = list(pool.map(lambda row: _post(row, secrets[row.app_id, modes[row.message_id]]), rows))
    done = timezone.now()
    delivered, failed = [], []
    for row, (status, error) in zip(rows, outcomes, strict=True):
        attempts = row.attempts + 1
        row.last_status = status
        if status is not None and 200 <= status < 300:
            row.delivered_at, row.last_error = done, ""
            delivered.append(row)
        else:
            delay = RETRY_SCHEDULE[min(attempts - 1, len(RETRY_SCHEDULE) - 1)]
            row.last_error = error or f"HTTP {status}"
            row.next_attempt_at = done + timedelta(seconds=delay)
            failed.append(row)
    if delivered:
        StatusCallback.objects.bulk_update(delivered, ["delivered_at", "last_status", "last_error"])
    if failed:
        StatusCallback.objects.bulk_update(failed, ["last_status", "last_error", "next_attempt_at"])
    counts["delivered"], counts["failed"] = len(delivered), len(failed)
    return counts
