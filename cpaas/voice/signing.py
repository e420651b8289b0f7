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
import time
from functools import lru_cache

from django.conf import settings

from cpaas.core.ids import new_id
from webhooks.signing import sign


@lru_cache(maxsize=4096)
def _secret(django_secret: str, app_id: str) -> str:
    digest = hmac.new(django_secret.encode(), f"cpaas-voice:{app_id}".encode(), hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(digest).decode()


def signing_secret(app_id: str) -> str:
    return _secret(settings.SECRET_KEY, app_id)


def signed_headers(app_id: str, body: bytes) -> dict[str, str]:
    msg_id = new_id("msg")
    now = int(time.time())
    return {"webhook-id": msg_id, "webhook-timestamp": str(now),
            "webhook-signature": sign(signing_secret(app_id), msg_id, now, body),
            "content-type": "application/json", "user-agent": "cpaas-voice/1"}
