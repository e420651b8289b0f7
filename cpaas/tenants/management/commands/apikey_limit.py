"""Operator: set (or clear) one API key's rate limit. Tenants cannot; the change is audited.

    manage.py apikey_limit key_01J… --rate 500
    manage.py apikey_limit key_01J… --default
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from cpaas.tenants.keys import api_key_set_limit, default_rate
from cpaas.tenants.models import ApiKey


class Command(BaseCommand):
    help = "Set an API key's rate limit (requests/second), or put it back to its mode's default."

    def add_arguments(self, parser) -> None:
        parser.add_argument("key_id")
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--rate", type=int,
                           help="sustained requests/second; the burst is RATE_LIMIT_BURST_SECONDS times it")
        group.add_argument("--default", action="store_true", help="use the mode's default again")

    def handle(self, *args, **options) -> None:
        key = ApiKey.objects.filter(pk=options["key_id"]).first()
        if key is None:
            raise CommandError(f"No API key {options['key_id']}.")
        rate = None if options["default"] else options["rate"]
        if rate is not None and rate < 1:
            raise CommandError("--rate must be at least 1.")
        api_key_set_limit(key=key, rate_limit=rate, actor="manage.py apikey_limit")
        shown = f"{rate}/s" if rate is not None else f"the {key.mode} default ({default_rate(key.mode)}/s)"
        self.stdout.write(f"{key.id} ({key.redacted}) now allows {shown}; other processes follow within "
                          "API_KEY_CACHE_SECONDS.")
