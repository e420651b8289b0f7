"""The platform's keyring: every secret we must be able to read back is encrypted with it at rest.

Webhook signing secrets, SMS callback secrets, carrier credentials and console two-factor seeds are
stored as MultiFernet tokens. Keys come from ``SECRET_ENCRYPTION_KEYS`` (urlsafe base64 Fernet keys, newest first; the
older name ``WEBHOOK_SECRET_KEYS`` is still read) or, when unset, one key derived from Django's
SECRET_KEY. Rotation: put a new key in front, run ``manage.py secrets_reencrypt``, then drop the
old key. A database dump alone never reveals a secret (docs/decisions/0844-one-keyring-for-secrets-at-rest.md).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

__all__ = ["InvalidToken", "decrypt", "encrypt", "fernet", "hint", "reencrypt", "register_resealer", "reseal_all"]

# The derivation salt predates the shared keyring (webhook secrets were its first users); changing
# it would make every stored token unreadable.
_DERIVATION_SALT = b"cpaas.webhooks.secrets\x00"


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...], django_secret: str) -> MultiFernet:
    if not keys:
        derived = hashlib.sha256(_DERIVATION_SALT + django_secret.encode()).digest()
        keys = (base64.urlsafe_b64encode(derived).decode(),)
    return MultiFernet([Fernet(key) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.SECRET_ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt(secret: str) -> str:
    return fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    return fernet().decrypt(token.encode()).decode()


def reencrypt(token: str) -> str:
    """The same secret encrypted with the newest key (after a key was put in front)."""
    return fernet().rotate(token.encode()).decode()


def hint(secret: str) -> str:
    """What may be shown again after creation: the prefix and the last four characters."""
    prefix, sep, _ = secret.partition("_")
    return f"{prefix}{sep}…{secret[-4:]}" if sep else f"…{secret[-4:]}"


# What holds keyring tokens, so one command re-encrypts everything with the newest key. Rooms
# register from their AppConfig.ready (core never imports a room): label -> function that
# re-encrypts its rows and returns how many it changed.
_resealers: dict[str, Callable[[], int]] = {}


def register_resealer(label: str, reseal: Callable[[], int]) -> None:
    _resealers[label] = reseal


def reseal_all() -> dict[str, int]:
    """Re-encrypt every stored secret with the newest key (``manage.py secrets_reencrypt``)."""
    return {label: reseal() for label, reseal in sorted(_resealers.items())}
