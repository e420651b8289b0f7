"""``manage.py export_invoices --period 2026-11 [--out DIR] [--format csv|jsonl|both] [--pdf]``"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from billing.exports import invoice_pdf, period_export
from billing.models import Invoice


class Command(BaseCommand):
    help = "Export a period's finalized invoices, lines, credit notes and payments for finance."

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="the billed month, YYYY-MM")
        parser.add_argument("--out", default="var/exports", help="directory to write into")
        parser.add_argument("--format", choices=["csv", "jsonl", "both"], default="both")
        parser.add_argument("--pdf", action="store_true", help="also render every invoice's PDF")

    def handle(self, *args, period: str, out: str, format: str, pdf: bool, **options):
        try:
            year, month = (int(part) for part in period.split("-"))
            start = date(year, month, 1)
        except ValueError:
            raise CommandError("--period must look like 2026-11") from None
        formats = ("csv", "jsonl") if format == "both" else (format,)
        directory = Path(out) / f"{start:%Y-%m}"
        invoices = Invoice.objects.filter(period_start=start).exclude(status="draft")
        total = invoices.count()
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=None, transient=False) as progress:
            task = progress.add_task(f"Export {start:%Y-%m}", total=total)
            written = period_export(start, directory, formats=formats,
                                    progress=lambda n: progress.advance(task, n))
            if pdf:
                pdf_task = progress.add_task("PDFs", total=total)
                for invoice in invoices.order_by("number"):
                    (directory / f"{invoice.number}.pdf").write_bytes(invoice_pdf(invoice))
                    progress.advance(pdf_task)
        for name, path in written.items():
            self.stdout.write(f"{name}: {path}")
        self.stdout.write(self.style.SUCCESS(f"{total} invoices exported to {directory}"))
