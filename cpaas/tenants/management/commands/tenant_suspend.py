"""Operator: suspend a tenant. Every API key of it answers 403 ``tenant_suspended`` from the next
request on, on every process, until ``tenant_resume``. Audited.

    manage.py tenant_suspend ten_01J… --reason "unpaid invoice INV-2026-0042"
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from cpaas.tenants.models import Tenant
from cpaas.tenants.suspension import tenant_suspend


class Command(BaseCommand):
    help = "Suspend a tenant: all its API keys get 403 tenant_suspended until tenant_resume."

    def add_arguments(self, parser) -> None:
        parser.add_argument("tenant_id")
        parser.add_argument("--reason", required=True, help="why, for the audit log")

    def handle(self, *args, **options) -> None:
        tenant = Tenant.objects.filter(pk=options["tenant_id"]).first()
        if tenant is None:
            raise CommandError(f"No tenant {options['tenant_id']}.")
        changed = tenant_suspend(tenant=tenant, reason=options["reason"], actor="manage.py tenant_suspend")
        self.stdout.write(f"{tenant.id} ({tenant.name}): " + ("suspended." if changed else "was already suspended."))
