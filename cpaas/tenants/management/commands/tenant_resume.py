"""Operator: resume a suspended tenant; its API keys work again at once on every process. Audited.

    manage.py tenant_resume ten_01J…
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from cpaas.tenants.models import Tenant
from cpaas.tenants.suspension import tenant_resume


class Command(BaseCommand):
    help = "Resume a suspended tenant: its API keys work again."

    def add_arguments(self, parser) -> None:
        parser.add_argument("tenant_id")

    def handle(self, *args, **options) -> None:
        tenant = Tenant.objects.filter(pk=options["tenant_id"]).first()
        if tenant is None:
            raise CommandError(f"No tenant {options['tenant_id']}.")
        changed = tenant_resume(tenant=tenant, actor="manage.py tenant_resume")
        self.stdout.write(f"{tenant.id} ({tenant.name}): " + ("resumed." if changed else "was not suspended."))
