"""The usage ledger. (Meters, plans, rating and invoices arrive with the billing issue.)"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from cpaas.core.ids import id_field


class UsageEvent(models.Model):
    """Append-only: one metered fact. Deduplicated forever by (app, idempotency_key)."""

    id = id_field("use")
    app = models.ForeignKey("tenants.App", on_delete=models.PROTECT, related_name="usage_events")
    meter = models.CharField(max_length=64)
    quantity = models.DecimalField(max_digits=20, decimal_places=6)
    subject = models.CharField(max_length=200, blank=True, default="")
    dimensions = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    idempotency_key = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app", "idempotency_key"], name="usage_unique_app_key")
        ]
        indexes = [models.Index(fields=["app", "meter", "occurred_at"], name="usage_app_meter_idx")]
