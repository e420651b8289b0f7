"""Models of the cross-cutting plumbing."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class IdempotencyKey(models.Model):
    """One POST's idempotency record: claimed before the handler runs, completed in its transaction."""

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"

    app_id = models.CharField(max_length=40)
    mode = models.CharField(max_length=4)  # the key's mode: test and live keys never share a record
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    response_headers = models.JSONField(default=dict)
    locked_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app_id", "mode", "key"], name="idempotency_unique_app_mode_key")
        ]
        indexes = [models.Index(fields=["expires_at"], name="idempotency_expiry_idx")]
