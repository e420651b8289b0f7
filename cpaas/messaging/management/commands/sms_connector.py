"""Operator: create or update a carrier connector, optionally with a route. Credentials in the
configuration (password, headers, callback_token…) are stored encrypted, apart from the rest.

    manage.py sms_connector acme-smsc smpp --config '{"host": "…", "port": 2775, "system_id": "…",
        "password": "…"}' --throughput 200 --route-prefix +44 --priority 10
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from cpaas.carriers import registry
from cpaas.carriers.base import ConfigError
from cpaas.messaging.connectors import connector_save, credential_names
from cpaas.messaging.models import Route


class Command(BaseCommand):
    help = "Create or update an SMS carrier connector (sandbox, smpp, http) and optionally route to it."

    def add_arguments(self, parser):
        parser.add_argument("id")
        parser.add_argument("kind", choices=registry.kinds("sms"))
        parser.add_argument("--config", default="{}", help="JSON object (see docs/carriers.md)")
        parser.add_argument("--throughput", type=int, default=100, help="messages/s per worker process; 0 = unlimited")
        parser.add_argument("--disable", action="store_true")
        parser.add_argument("--route-prefix", default=None, help="add a platform route for this E.164 prefix")
        parser.add_argument("--route-country", default="", help="…or for this ISO country")
        parser.add_argument("--priority", type=int, default=100)

    def handle(self, *args, **options):
        try:
            config = json.loads(options["config"])
        except ValueError as exc:
            raise CommandError(f"--config is not JSON: {exc}") from exc
        if not isinstance(config, dict):
            raise CommandError("--config must be a JSON object.")
        if options["throughput"] < 0:
            raise CommandError("--throughput must be 0 (unlimited) or more messages/s.")
        try:
            connector, created = connector_save(id=options["id"], kind=options["kind"], config=config,
                                                throughput=options["throughput"], enabled=not options["disable"])
        except ConfigError as exc:
            raise CommandError(f"--config is not a valid {options['kind']} configuration: {exc}") from exc
        self.stdout.write(f"{'created' if created else 'updated'} connector {connector.id} ({connector.kind})")
        sealed = credential_names(connector, config)
        if sealed:
            self.stdout.write(f"credentials stored encrypted: {', '.join(sealed)}")
        if options["route_prefix"] is not None or options["route_country"]:
            route = Route.objects.create(prefix=options["route_prefix"] or "",
                                         country=options["route_country"].upper(),
                                         priority=options["priority"], connector=connector)
            self.stdout.write(f"route {route.id}: prefix {route.prefix or '*'} country {route.country or '*'} "
                              f"priority {route.priority}")
