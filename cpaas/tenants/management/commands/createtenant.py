"""``manage.py createtenant --name Acme``: a tenant with an app and a test key, printed once."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from cpaas.tenants.keys import api_key_create
from cpaas.tenants.models import KeyMode
from cpaas.tenants.services import tenant_provision


class Command(BaseCommand):
    help = "Create a tenant with one app and a test key (and a live key with --live); prints the secrets once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", required=True, help="Tenant name, e.g. the company.")
        parser.add_argument("--app-name", default="Default app", help="Name of the tenant's first app.")
        parser.add_argument("--owner-email", help="Console login of the tenant's owner (created if new).")
        parser.add_argument("--owner-password",
                            help="Password for a new owner; one is generated and printed when omitted.")
        parser.add_argument("--live", action="store_true", help="Also mint a live key (sk_live_…).")

    def handle(self, *args, **options) -> None:
        name = options["name"].strip()
        if not name:
            raise CommandError("--name must not be empty.")
        email, password = options["owner_email"], options["owner_password"]
        if password and not email:
            raise CommandError("--owner-password needs --owner-email.")
        new_owner = bool(email) and not get_user_model().objects.filter(username=email).exists()
        if new_owner and not password:
            password = secrets.token_urlsafe(12)

        provisioned = tenant_provision(name=name, app_name=options["app_name"], owner_email=email,
                                       owner_password=password)
        actor = provisioned.user.pk if provisioned.user else None
        live = None
        if options["live"]:
            live = api_key_create(app=provisioned.app, name="Default live key", mode=KeyMode.LIVE,
                                  actor_user_id=actor)

        lines = [
            f"Tenant    {provisioned.tenant.id}  {provisioned.tenant.name}",
            f"App       {provisioned.app.id}  {provisioned.app.name}",
            f"Test key  {provisioned.test_key.secret}",
        ]
        if live is not None:
            lines.append(f"Live key  {live.secret}")
        if email:
            login = f"{email} / {password}" if new_owner else f"{email} (existing user, password unchanged)"
            lines.append(f"Owner     {login}")
        lines.append("Keys are shown only now: store them safely.")
        self.stdout.write("\n".join(lines))
