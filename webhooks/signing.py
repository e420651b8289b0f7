"""Standard Webhooks signatures: ``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}``."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

from webhooks.crypto import secret_key_bytes


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    to_sign = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key_bytes(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """One signature per active secret, space-separated (new and old secrets during rotation)."""
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets)


def headers(secrets: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": "cpaas-webhooks/1",
        "accept-encoding": "identity",  # we log the answer's first bytes as text, never decompress
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, msg_id, timestamp, body),
    }
