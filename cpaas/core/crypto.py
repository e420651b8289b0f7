"""The platform's keyring: every secret we must be able to read back is encrypted with it at rest.

Webhook signing secrets, SMS callback secrets, voice signing secrets, carrier credentials and console
two-factor seeds are stored as MultiFernet tokens. Keys come from ``SECRET_ENCRYPTION_KEYS`` (urlsafe
base64 Fernet keys, newest first; the older name ``WEBHOOK_SECRET_KEYS`` is still read) or, when
unset, one key derived from Django's SECRET_KEY. Rotation: put a new key in front, run
``manage.py secrets_reencrypt``, then drop the old key. A database dump alone never reveals a secret
(docs/decisions/0844-one-keyring-for-secrets-at-rest.md).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

__all__ = ["InvalidToken", "decrypt", "decrypt_cached", "encrypt", "fernet", "hint", "mode_secret_hint",
           "mode_secret_new", "mode_secrets_reseal", "reencrypt", "register_resealer", "reseal_all",
           "reseal_column", "signing_secret_new"]

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


_plain: dict[str, str] = {}  # keyring token -> secret: a signer decrypts each token once per process


def decrypt_cached(token: str) -> str:
    """``decrypt`` remembered per token, for signers on hot paths (a token never changes meaning;
    a rotation stores a new token). Bounded: cleared when it grows past 10,000 tokens."""
    plain = _plain.get(token)
    if plain is None:
        if len(_plain) > 10_000:
            _plain.clear()
        plain = _plain[token] = decrypt(token)
    return plain


def forget_plain() -> None:
    """Drop every remembered plain secret (tests that swap keys)."""
    _plain.clear()


# --- signing secrets kept one per mode ----------------------------------------------------------
# The SMS callback secret (decision 0846) and the voice signing secret (0870) are stored the same
# way: a JSON object {"live": {"secret": <keyring token>, "hint": "whsec_…abcd"}, "test": {…}}, so
# a test key never sees or changes what signs live traffic.

def signing_secret_new() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def mode_secret_new(entries: dict, mode: str) -> tuple[dict, str]:
    """``entries`` with a new secret for ``mode`` (encrypted, with its hint), and the plain secret
    to be shown once, never kept."""
    secret = signing_secret_new()
    return {**entries, mode: {"secret": encrypt(secret), "hint": hint(secret)}}, secret


def mode_secret_hint(entries: dict, mode: str) -> str | None:
    entry = entries.get(mode)
    return entry["hint"] if entry else None


def mode_secrets_reseal(entries: dict) -> dict:
    """``entries`` re-encrypted with the keyring's newest key (for a room's resealer)."""
    return {mode: {**entry, "secret": reencrypt(entry["secret"])} for mode, entry in entries.items()}


# What holds keyring tokens, so one command re-encrypts everything with the newest key. Rooms
# register from their AppConfig.ready (core never imports a room): label -> function that
# re-encrypts its rows and returns how many it changed.
_resealers: dict[str, Callable[[], int]] = {}


def register_resealer(label: str, reseal: Callable[[], int]) -> None:
    _resealers[label] = reseal


def reseal_column(rows: QuerySet, field: str, reseal: Callable[[Any], Any]) -> int:
    """Replace ``field`` of every row in ``rows`` by ``reseal(value)``, rows locked in one
    transaction; returns how many. The body of each room's resealer."""
    changed = 0
    with transaction.atomic():
        for pk, value in rows.select_for_update().values_list("pk", field):
            rows.model._default_manager.filter(pk=pk).update(**{field: reseal(value)})
            changed += 1
    return changed


def reseal_all() -> dict[str, int]:
    """Re-encrypt every stored secret with the newest key (``manage.py secrets_reencrypt``)."""
    return {label: reseal() for label, reseal in sorted(_resealers.items())}
