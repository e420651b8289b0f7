"""Operator: set (or clear) a tenant's aggregate rate limit over all its keys, per mode. Audited.

    manage.py tenant_limit ten_01J… --live 2000 --test 200
    manage.py tenant_limit ten_01J… --live default
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from cpaas.tenants.keys import tenant_rate, tenant_set_limit
from cpaas.tenants.models import KeyMode, Tenant


def _rate(value: str | None, current: int | None, flag: str) -> int | None:
    if value is None:
        return current
    if value == "default":
        return None
    if not value.isdigit() or int(value) < 1:
        raise CommandError(f"{flag} must be a positive number of requests/second or `default`.")
    return int(value)


class Command(BaseCommand):
    help = "Set a tenant's aggregate requests/second over all its live (--live) or test (--test) keys."

    def add_arguments(self, parser) -> None:
        parser.add_argument("tenant_id")
        parser.add_argument("--live", help="requests/second over all live keys, or `default`")
        parser.add_argument("--test", help="requests/second over all test keys, or `default`")

    def handle(self, *args, **options) -> None:
        tenant = Tenant.objects.filter(pk=options["tenant_id"]).first()
        if tenant is None:
            raise CommandError(f"No tenant {options['tenant_id']}.")
        if options["live"] is None and options["test"] is None:
            raise CommandError("Give --live and/or --test.")
        live = _rate(options["live"], tenant.rate_limit_live, "--live")
        test = _rate(options["test"], tenant.rate_limit_test, "--test")
        tenant_set_limit(tenant=tenant, live=live, test=test, actor="manage.py tenant_limit")
        self.stdout.write(f"{tenant.id} ({tenant.name}): live {tenant_rate(tenant, KeyMode.LIVE)}/s, "
                          f"test {tenant_rate(tenant, KeyMode.TEST)}/s over all keys; other processes "
                          "follow within API_KEY_CACHE_SECONDS.")
