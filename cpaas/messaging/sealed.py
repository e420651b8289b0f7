"""Re-encrypting this room's stored secrets with the keyring's newest key (secrets_reencrypt)."""

from __future__ import annotations

from django.db import transaction

from cpaas.core import crypto
from cpaas.messaging.models import Connector, SmsSettings


def callback_secrets_reseal() -> int:
    changed = 0
    with transaction.atomic():
        for row in SmsSettings.objects.select_for_update().exclude(callback_secrets={}):
            row.callback_secrets = crypto.mode_secrets_reseal(row.callback_secrets)
            row.save(update_fields=["callback_secrets"])
            changed += 1
    return changed


def connector_credentials_reseal() -> int:
    changed = 0
    with transaction.atomic():
        for row in Connector.objects.select_for_update().exclude(credentials=""):
            Connector.objects.filter(pk=row.pk).update(credentials=crypto.reencrypt(row.credentials))
            changed += 1
    return changed
