"""Endpoint signing secrets: the ``whsec_`` format, and re-sealing the stored ones. Encryption at
rest is the platform keyring's (:mod:`cpaas.core.crypto`), called by that name.
"""

from __future__ import annotations

import base64
import secrets

from cpaas.core.crypto import reencrypt, reseal_column
from webhooks.models import Endpoint

__all__ = ["SECRET_PREFIX", "endpoint_secrets_reseal", "secret_generate", "secret_key_bytes"]

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def secret_generate(nbytes: int = SECRET_BYTES) -> str:
    """``whsec_`` + base64 of random bytes, the Standard Webhooks secret format."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode()


def secret_key_bytes(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def endpoint_secrets_reseal() -> int:
    """Re-encrypt every endpoint's secrets with the keyring's newest key (secrets_reencrypt)."""
    return reseal_column(Endpoint.objects.exclude(secrets=[]), "secrets",
                         lambda entries: [{**entry, "secret": reencrypt(entry["secret"])} for entry in entries])
