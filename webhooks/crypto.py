"""Endpoint signing secrets: generation, and encryption at rest with MultiFernet.

Keys come from ``WEBHOOK_SECRET_KEYS`` (newest first; older keys still decrypt, so keys can be
rotated) or, when unset, one key derived from Django's SECRET_KEY. A database dump alone never
reveals a signing secret.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from functools import lru_cache

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings

from webhooks import conf

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def secret_generate() -> str:
    """``whsec_`` + base64 of 32 random bytes, the Standard Webhooks secret format."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key_bytes(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...], django_secret: str) -> MultiFernet:
    if not keys:
        derived = hashlib.sha256(b"cpaas.webhooks.secrets\x00" + django_secret.encode()).digest()
        keys = (base64.urlsafe_b64encode(derived).decode(),)
    return MultiFernet([Fernet(key) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(conf.SECRET_KEYS), settings.SECRET_KEY)


def encrypt(secret: str) -> str:
    return fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    return fernet().decrypt(token.encode()).decode()
