"""An app's SMS settings, its owned numbers and its status-callback secrets: per-process cached
reads (refreshed every few seconds: they change rarely and every send reads them)."""

from __future__ import annotations

from django.db import transaction

from cpaas.core import crypto
from cpaas.core.ttlcache import TtlCache
from cpaas.messaging import infra
from cpaas.messaging.models import Mode, PhoneNumber, SmsSettings

# --- per-process caches of rarely changing rows (settings, owned numbers) -----------------------

_CACHE_SECONDS = 5.0
_settings_cache: TtlCache[str, SmsSettings] = TtlCache(_CACHE_SECONDS)
_numbers_cache: TtlCache[str, dict[str, frozenset[str]]] = TtlCache(_CACHE_SECONDS)


def caches_clear(app_id: str | None = None) -> None:
    infra.counters.clear()
    for cache in (_settings_cache, _numbers_cache):
        if app_id is None:
            cache.clear()
        else:
            cache.forget(app_id)


def sms_settings(app_id: str) -> SmsSettings:
    return _settings_cache.get_or_load(
        app_id, lambda: SmsSettings.objects.filter(app_id=app_id).first() or SmsSettings(app_id=app_id))


def owned_numbers(app_id: str, mode: str) -> frozenset[str]:
    """The app's numbers of one mode: a key sends only from numbers of its own mode."""
    return _numbers_cache.get_or_load(app_id, lambda: _numbers_by_mode(app_id)).get(mode, frozenset())


def _numbers_by_mode(app_id: str) -> dict[str, frozenset[str]]:
    rows = list(PhoneNumber.objects.filter(app_id=app_id).values_list("number", "mode"))
    return {m: frozenset(number for number, row_mode in rows if row_mode == m) for m in ("test", "live")}


# --- callback secrets -----------------------------------------------------------------------

def callback_secret_new(row: SmsSettings, mode: str) -> str:
    """Give ``row`` a new secret for ``mode`` (stored encrypted, with its hint); the plain secret
    is returned to be shown once, never kept."""
    row.callback_secrets, secret = crypto.mode_secret_new(row.callback_secrets, mode)
    return secret


def callback_secret_hint(row: SmsSettings, mode: str) -> str | None:
    return crypto.mode_secret_hint(row.callback_secrets, mode)


def callback_secret(app_id: str, mode: str = Mode.LIVE) -> str:
    """The secret that signs the app's status callbacks of ``mode``, decrypted (for the callback
    sender only).

    An app that sends callbacks before its first settings write gets one here, in the worker; its
    owner sees it by rotating. Reads of the settings never create it.
    """
    row = sms_settings(app_id)
    if mode not in row.callback_secrets:
        with transaction.atomic():
            row, _ = SmsSettings.objects.select_for_update().get_or_create(app_id=app_id)
            if mode not in row.callback_secrets:
                callback_secret_new(row, mode)
                row.save(update_fields=["callback_secrets"])
        caches_clear(app_id)
    return crypto.decrypt_cached(row.callback_secrets[mode]["secret"])
