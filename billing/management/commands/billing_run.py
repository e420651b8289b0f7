"""``manage.py billing_run --period 2026-10 [--finalize]``: draft/refresh every tenant's invoice."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from rich.progress import Progress

from billing.invoices import billed_tenants, billing_run, finalize_due


class Command(BaseCommand):
    help = "Run billing for a period (idempotent, resumable); optionally finalize drafts past grace."

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="YYYY-MM")
        parser.add_argument("--finalize", action="store_true")

    def handle(self, *args, period: str, finalize: bool, **options):
        try:
            year, month = (int(part) for part in period.split("-"))
            start = date(year, month, 1)
        except ValueError:
            raise CommandError("--period must look like 2026-10") from None
        with Progress() as progress:
            task = progress.add_task(f"Billing {period}", total=len(billed_tenants(start)))
            counts = billing_run(period_start=start, progress=lambda: progress.advance(task))
        self.stdout.write(str(counts))
        if finalize:
            self.stdout.write(f"finalized: {finalize_due()}")
