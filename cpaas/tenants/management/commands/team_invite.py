"""Operator: invite someone into a tenant with any role, owner included — the way back in for a
tenant whose owners are gone. Mails the link like the console does, and prints it too (the operator
can hand it over another way). Audited (``invitation.created``, by the command).

    manage.py team_invite ten_01J… new-owner@example.com --role owner
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from cpaas.core.errors import ApiError
from cpaas.tenants.models import Role, Tenant
from cpaas.tenants.team import Actor, invitation_create


class Command(BaseCommand):
    help = "Invite an email into a tenant with a role (owner included); prints and mails the link."

    def add_arguments(self, parser) -> None:
        parser.add_argument("tenant_id")
        parser.add_argument("email")
        parser.add_argument("--role", choices=Role.values, default=Role.OWNER)

    def handle(self, *args, **options) -> None:
        tenant = Tenant.objects.filter(pk=options["tenant_id"]).first()
        if tenant is None:
            raise CommandError(f"No tenant {options['tenant_id']}.")
        base = settings.PUBLIC_BASE_URL or "http://localhost:8000"
        links: list[str] = []
        try:
            with transaction.atomic():
                invitation = invitation_create(tenant_id=tenant.pk, email=options["email"], role=options["role"],
                                               actor=Actor(role=Role.OWNER, key_id="manage.py team_invite"),
                                               base_url=base, on_link=links.append)
        except ApiError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        self.stdout.write(f"Invited {invitation.email} to {tenant.name} as {invitation.get_role_display()}, "
                          f"valid until {invitation.expires_at:%Y-%m-%d %H:%M} UTC:\n{links[0]}")


