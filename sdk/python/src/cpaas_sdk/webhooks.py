"""Verify the platform's webhooks (Standard Webhooks) in your handler, behind any proxy.

    event = verify_webhook(request.body, request.headers, secret="whsec_…")

Give it the **raw** body bytes exactly as received (not re-serialized JSON: a proxy or framework
that parses and re-encodes changes the bytes and the signature). Headers are found whatever their
case and also in WSGI/CGI form (``HTTP_WEBHOOK_ID``), so Django's ``request.META``, Flask's and
Starlette's ``request.headers`` and a plain dict all work. ``webhook-signature`` may hold several
space-separated ``v1,<base64>`` signatures (during a secret rotation); one match is enough. The
timestamp must be within ``tolerance`` seconds of now, so a captured request cannot be replayed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from cpaas_sdk.errors import CpaasError

DEFAULT_TOLERANCE = 300


class WebhookVerificationError(CpaasError):
    """The request is not a genuine, fresh webhook of the platform: answer 400 and drop it."""


def _key(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        return secret
    body = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(body, validate=True)
    except ValueError as exc:
        raise ValueError("a webhook secret is `whsec_` + base64, as the API shows it") from exc


def _header(headers: Mapping[str, Any] | Iterable[tuple[str, str]], name: str) -> str | None:
    items = headers.items() if isinstance(headers, Mapping) else headers
    wanted = {name, "http_" + name.replace("-", "_")}
    for key, value in items:
        if isinstance(key, bytes):
            key = key.decode("latin-1")
        if key.lower() in wanted:
            return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return None


def sign(secret: str | bytes, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """The ``webhook-signature`` value the platform sends for these parts (handy in tests)."""
    payload = body.encode() if isinstance(body, str) else body
    digest = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + payload, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_webhook(body: bytes | str, headers: Mapping[str, Any] | Iterable[tuple[str, str]], *,
                   secret: str | bytes | Iterable[str], tolerance: int = DEFAULT_TOLERANCE,
                   now: float | None = None) -> dict[str, Any]:
    """The event (parsed body) if the signature matches one of ``secret`` (several while you
    rotate); raises :class:`WebhookVerificationError` otherwise."""
    msg_id = _header(headers, "webhook-id")
    timestamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    if not (msg_id and timestamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    if abs((time.time() if now is None else now) - sent_at) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance (an old or replayed request)")
    secrets = [secret] if isinstance(secret, str | bytes) else list(secret)
    offered = [part.split(",", 1)[1] for part in signatures.split() if part.startswith("v1,")]
    for candidate in secrets:
        expected = sign(candidate, msg_id, sent_at, body).split(",", 1)[1]
        if any(hmac.compare_digest(expected, value) for value in offered):
            payload = body.decode() if isinstance(body, bytes) else body
            return json.loads(payload)
    raise WebhookVerificationError("no signature matches the secret")
