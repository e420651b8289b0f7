"""Operator: create or update a SIP trunk for live calls. Its password is stored encrypted.

    manage.py sip_trunk carrier-a --config '{"host": "sip.carrier-a.example", "username": "acme",
        "password": "…", "channels": 30}' --prefix +1 --prefix +44 --priority 10
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from cpaas.carriers.base import ConfigError
from cpaas.voice.trunks import trunk_save


class Command(BaseCommand):
    help = "Create or update a SIP trunk (docs/voice.md, 'SIP trunks') and the destination prefixes it serves."

    def add_arguments(self, parser):
        parser.add_argument("id")
        parser.add_argument("--config", default="{}", help="JSON object: the sip kind's keys (docs/voice.md)")
        parser.add_argument("--prefix", action="append", default=[],
                            help="an E.164 prefix the trunk serves (repeat); none: every destination")
        parser.add_argument("--priority", type=int, default=100, help="lower is tried first among equal prefixes")
        parser.add_argument("--disable", action="store_true")

    def handle(self, *args, **options):
        try:
            config = json.loads(options["config"])
        except ValueError as exc:
            raise CommandError(f"--config is not JSON: {exc}") from exc
        if not isinstance(config, dict):
            raise CommandError("--config must be a JSON object.")
        bad = [p for p in options["prefix"] if not (p.startswith("+") and p[1:].isdigit())]
        if bad:
            raise CommandError(f"--prefix {bad[0]!r} is not an E.164 prefix like +44.")
        try:
            trunk, created = trunk_save(id=options["id"], config=config, prefixes=options["prefix"],
                                        priority=options["priority"], enabled=not options["disable"])
        except ConfigError as exc:
            raise CommandError(f"--config is not a valid sip configuration: {exc}") from exc
        self.stdout.write(f"{'created' if created else 'updated'} trunk {trunk.id}: "
                          f"prefixes {', '.join(trunk.prefixes) or '*'}, priority {trunk.priority}"
                          f"{'' if trunk.enabled else ', disabled'}")
        if trunk.credentials:
            self.stdout.write("credentials stored encrypted: password")
        self.stdout.write("restart the voice workers and the SIP worker to use it")
