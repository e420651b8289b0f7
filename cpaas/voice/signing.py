"""Signing what the platform sends to a tenant's call-control URL and status callback.

Requests are JSON bodies with Standard Webhooks headers (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``) over the raw body, so a tenant verifies them with the ``standardwebhooks``
library as it is. The secret is per app and derived from the platform's SECRET_KEY (nothing to
store or leak from the database); the console shows it on the voice page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

from django.conf import settings
from standardwebhooks.webhooks import Webhook

from cpaas.core.ids import new_id


def signing_secret(app_id: str) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"cpaas-voice:{app_id}".encode(), hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(digest).decode()


def signed_headers(app_id: str, body: str) -> dict[str, str]:
    msg_id = new_id("msg")
    now = datetime.now(UTC)
    signature = Webhook(signing_secret(app_id)).sign(msg_id, now, body)
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature,
            "content-type": "application/json", "user-agent": "cpaas-voice/1"}
