"""Operator: after putting a new key in front of SECRET_ENCRYPTION_KEYS, re-encrypt every stored
secret with it; then the old key can be dropped.

    SECRET_ENCRYPTION_KEYS=<new>,<old> manage.py secrets_reencrypt
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from cpaas.core.crypto import reseal_all


class Command(BaseCommand):
    help = "Re-encrypt every stored secret (webhooks, SMS callbacks, carriers, two-factor seeds) with the newest key."

    def handle(self, *args, **options) -> None:
        for label, count in reseal_all().items():
            self.stdout.write(f"{label}: {count} re-encrypted")
        self.stdout.write("Done: keys after the first in SECRET_ENCRYPTION_KEYS may now be removed.")
