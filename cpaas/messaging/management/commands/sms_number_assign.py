"""Operator: give a live number to an app.

    manage.py sms_number_assign app_01J… +442079460018 --connector acme-smsc --capabilities sms,voice
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from cpaas.core.errors import ApiError
from cpaas.messaging.inventory import number_assign
from cpaas.tenants.models import App


class Command(BaseCommand):
    help = "Assign a live phone number to an app."

    def add_arguments(self, parser):
        parser.add_argument("app_id")
        parser.add_argument("number")
        parser.add_argument("--connector", required=True)
        parser.add_argument("--capabilities", default="sms")
        parser.add_argument("--country", default=None, help="hint for a national-format number")

    def handle(self, *args, **options):
        app = App.objects.filter(pk=options["app_id"]).first()
        if app is None:
            raise CommandError("no such app")
        try:
            number = number_assign(app=app, number=options["number"], connector=options["connector"],
                                   capabilities=[c.strip() for c in options["capabilities"].split(",") if c.strip()],
                                   country_hint=options["country"])
        except ApiError as error:
            raise CommandError(error.message) from error
        self.stdout.write(f"{number.number} ({number.country}) → {app.pk} via {number.connector}")
