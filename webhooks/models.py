"""Events published by the rooms. (The webhooks issue adds endpoints, deliveries and attempts.)"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from cpaas.core.ids import id_field


class Event(models.Model):
    id = id_field("evt")
    app = models.ForeignKey("tenants.App", on_delete=models.PROTECT, related_name="events")
    type = models.CharField(max_length=64)
    data = models.JSONField()
    idempotency_key = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app", "idempotency_key"], name="event_unique_app_key")
        ]
        indexes = [models.Index(fields=["app", "type", "id"], name="event_app_type_idx")]
