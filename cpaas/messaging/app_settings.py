"""An app's SMS settings, its owned numbers and its status-callback secrets: per-process cached
reads (refreshed every few seconds: they change rarely and every send reads them)."""

from __future__ import annotations

import threading
import time

from django.db import transaction

from cpaas.core import crypto
from cpaas.messaging import infra
from cpaas.messaging.models import Mode, PhoneNumber, SmsSettings

# --- per-process caches of rarely changing rows (settings, owned numbers) -----------------------

_CACHE_SECONDS = 5.0
_cache_lock = threading.Lock()
_settings_cache: dict[str, tuple[SmsSettings, float]] = {}
_numbers_cache: dict[str, tuple[dict[str, frozenset[str]], float]] = {}


def caches_clear(app_id: str | None = None) -> None:
    infra.counters.clear()
    with _cache_lock:
        if app_id is None:
            _settings_cache.clear()
            _numbers_cache.clear()
        else:
            _settings_cache.pop(app_id, None)
            _numbers_cache.pop(app_id, None)


def sms_settings(app_id: str) -> SmsSettings:
    hit = _settings_cache.get(app_id)
    if hit is not None and time.monotonic() - hit[1] < _CACHE_SECONDS:
        return hit[0]
    row = SmsSettings.objects.filter(app_id=app_id).first() or SmsSettings(app_id=app_id)
    with _cache_lock:
        _settings_cache[app_id] = (row, time.monotonic())
    return row


def owned_numbers(app_id: str, mode: str) -> frozenset[str]:
    """The app's numbers of one mode: a key sends only from numbers of its own mode."""
    hit = _numbers_cache.get(app_id)
    if hit is not None and time.monotonic() - hit[1] < _CACHE_SECONDS:
        return hit[0].get(mode, frozenset())
    rows = list(PhoneNumber.objects.filter(app_id=app_id).values_list("number", "mode"))
    by_mode = {m: frozenset(number for number, row_mode in rows if row_mode == m) for m in ("test", "live")}
    with _cache_lock:
        _numbers_cache[app_id] = (by_mode, time.monotonic())
    return by_mode.get(mode, frozenset())


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
