"""``manage.py import_rate_deck --plan CODE --meter sms_segments deck.csv [--increments 60/60]``"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from billing.plans import plan_import_rate_deck
from cpaas.core.errors import ApiError


class Command(BaseCommand):
    help = "Import a destination,price CSV as a new plan version's rate deck (all or nothing)."

    def add_arguments(self, parser):
        parser.add_argument("csv_path")
        parser.add_argument("--plan", required=True)
        parser.add_argument("--meter", required=True, choices=["sms_segments", "voice_seconds"])
        parser.add_argument("--increments", help="first/subsequent seconds, e.g. 60/60 or 30/6 (voice)")

    def handle(self, *args, csv_path: str, plan: str, meter: str, increments: str | None, **options):
        inc = [int(part) for part in increments.split("/")] if increments else None
        try:
            version = plan_import_rate_deck(code=plan, meter=meter, csv_text=Path(csv_path).read_text(encoding="utf-8"),
                                            increments=inc)
        except ApiError as exc:
            lines = "\n".join(f"  line {e['line']}: {e['message']}" for e in exc.extra.get("errors", []))
            raise CommandError(f"{exc.message}\n{lines}") from None
        self.stdout.write(self.style.SUCCESS(f"{plan} v{version.version}: {len(version.charges[-1]['rates'])} rates"))
