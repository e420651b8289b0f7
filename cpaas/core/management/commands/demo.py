"""``manage.py demo``: the demo tenant of the embedded default, created once, printed every time."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from cpaas.core.management.demo import demo_banner, demo_ensure


class Command(BaseCommand):
    help = "Create the demo tenant if it is missing and print its console login, test key and a curl line."

    def handle(self, *args, **options) -> None:
        demo = demo_ensure()
        if demo.created:
            self.stdout.write(f"Created the demo tenant {demo.tenant.id}.")
        elif demo.minted:
            self.stdout.write("The stored demo key was missing or revoked: minted a new one.")
        self.stdout.write(demo_banner(demo, settings.PUBLIC_BASE_URL or "http://localhost:8000"))
