"""Signing what the platform sends to a tenant's call-control URL and status callback.

Requests are JSON bodies with Standard Webhooks headers (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``) over the raw body, so a tenant verifies them with the ``standardwebhooks``
library as it is (decision 0603).

The secret is stored per app and per mode in ``VoiceSettings.signing_secrets``, encrypted with the
platform keyring, the same shape as the SMS callback secret (decision 0870): shown once when
created or rotated, afterwards only its hint; a read never creates it. The engine signs every
document fetch on its hot path, so the decrypted secret is kept in-process per app and mode for
``CACHE_SECONDS`` (a rotation reaches other processes within that time): no query and no
decryption per request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from django.db import transaction

from cpaas.core import crypto
from cpaas.core.ids import new_id
from cpaas.core.ttlcache import TtlCache
from cpaas.tenants.audit import audit_record
from cpaas.voice.models import VoiceSettings
from webhooks.signing import sign

CACHE_SECONDS = 10.0
MODES = ("live", "test")

# (app id, mode) -> plain secret
_cache: TtlCache[tuple[str, str], str] = TtlCache(CACHE_SECONDS)


def callback_channel(mode: str, dialect: str = "") -> str:
    """The webhooks callback-outbox channel of a call's status callbacks: one per mode, so each is
    signed with its own mode's secret (registered in ``VoiceConfig.ready``). A call of another
    dialect has that dialect's channels (registered by the dialect's app with its own shape)."""
    name = "voice" if mode == "live" else "voice.test"
    return f"{dialect}.{name}" if dialect else name


def signing_secret_hint(app_id: str, mode: str) -> str | None:
    """What a read may show: ``whsec_…abcd``, or None before the mode's secret exists. Writes nothing."""
    row = VoiceSettings.objects.filter(app_id=app_id).only("signing_secrets").first()
    return crypto.mode_secret_hint(row.signing_secrets, mode) if row else None


def signing_secret(app_id: str, mode: str) -> str:
    """The secret that signs the app's fetches and callbacks of ``mode``, decrypted (for signers only).

    An app whose calls need one before its owner created it gets it here, in the worker (a write by
    a sender, never by a read); the owner sees it by rotating.
    """
    secret = _cache.get((app_id, mode))
    if secret is not None:
        return secret
    row = VoiceSettings.objects.filter(app_id=app_id).only("signing_secrets").first()
    if row is None or mode not in row.signing_secrets:
        with transaction.atomic():
            row, _ = VoiceSettings.objects.select_for_update().get_or_create(app_id=app_id)
            if mode not in row.signing_secrets:
                row.signing_secrets, _ = crypto.mode_secret_new(row.signing_secrets, mode)
                row.save(update_fields=["signing_secrets"])
    return _cache.put((app_id, mode), crypto.decrypt_cached(row.signing_secrets[mode]["secret"]))


@dataclass(frozen=True)
class SecretRotated:
    secret: str  # shown once, in the response of the rotation
    hint: str


def signing_secret_rotate(*, tenant_id: str, app_id: str, mode: str, actor_key_id: str = "",
                          actor_user_id: int | None = None, ip: str | None = None) -> SecretRotated:
    """A new signing secret for ``mode``, returned once (also how the first one is created); the old
    one stops signing at once in this process and within ``CACHE_SECONDS`` elsewhere. Audited."""
    with transaction.atomic():
        row, _ = VoiceSettings.objects.select_for_update().get_or_create(app_id=app_id)
        row.signing_secrets, secret = crypto.mode_secret_new(row.signing_secrets, mode)
        row.save(update_fields=["signing_secrets"])
        hint = crypto.mode_secret_hint(row.signing_secrets, mode)
        audit_record(tenant_id=tenant_id, action="voice.signing_secret_rotated", actor_key_id=actor_key_id,
                     actor_user_id=actor_user_id, target_type="app", target_id=app_id, ip=ip,
                     metadata={"mode": mode, "hint": hint})
    transaction.on_commit(lambda: _cache.forget((app_id, mode)))
    _cache.forget((app_id, mode))
    return SecretRotated(secret=secret, hint=hint)


def signing_secrets_reseal() -> int:
    """Re-encrypt every stored voice secret with the keyring's newest key (secrets_reencrypt)."""
    return crypto.reseal_column(VoiceSettings.objects.exclude(signing_secrets={}), "signing_secrets",
                                crypto.mode_secrets_reseal)


def headers_signed_with(secret: str, body: bytes) -> dict[str, str]:
    msg_id = new_id("msg")
    now = int(time.time())
    return {"webhook-id": msg_id, "webhook-timestamp": str(now),
            "webhook-signature": sign(secret, msg_id, now, body),
            "content-type": "application/json", "user-agent": "cpaas-voice/1"}


async def signing_secret_async(app_id: str, mode: str, *, read: Callable[..., Awaitable[str]]) -> str:
    """The secret from the engine's event loop: the in-process cache, else ``read`` (off the loop)."""
    secret = _cache.get((app_id, mode))
    if secret is None:
        secret = await read(signing_secret, app_id, mode)
    return secret


async def signed_headers(app_id: str, mode: str, body: bytes, *,
                         read: Callable[..., Awaitable[str]]) -> dict[str, str]:
    """Headers for a POST of ``body`` from the engine's event loop. ``read`` runs the database
    lookup off the loop (``CallEngine.read``) and only when the in-process cache has no secret."""
    return headers_signed_with(await signing_secret_async(app_id, mode, read=read), body)
