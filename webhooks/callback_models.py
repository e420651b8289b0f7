"""The callback outbox: signed POSTs to one-off URLs (a call's or a message's ``status_callback``).

Kept apart from ``models.py`` (endpoints, events, deliveries) because a callback has no endpoint
and no subscription: the URL comes with the object it reports on. Registered by
``WebhooksConfig.ready``.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from cpaas.core.ids import id_field


class Callback(models.Model):
    """One signed POST, retried on the webhooks schedule until a 2xx or the schedule ends.

    ``id`` is the ``webhook-id`` of every attempt and ``body`` the exact bytes sent, so a receiver
    that sees a retry can drop it as a duplicate. ``channel`` names whose per-app secret signs it.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    id = id_field("cbk")
    # No database FK check and no index of its own (decisions 0110, 1020): every recorded callback
    # paid a deferred check against the app row at commit and three index entries nothing reads
    # (``callback_app_key_uniq`` leads with the app); the caller always passes its own app's id.
    app = models.ForeignKey("tenants.App", on_delete=models.CASCADE, related_name="+", db_constraint=False,
                            db_index=False)
    channel = models.CharField(max_length=20)
    url = models.URLField(max_length=2000)
    type = models.CharField(max_length=100)
    body = models.TextField()
    idempotency_key = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "webhooks"
        constraints = [models.UniqueConstraint(fields=["app", "idempotency_key"], name="callback_app_key_uniq")]
        indexes = [models.Index(fields=["next_attempt_at"], name="callback_due_idx",
                                condition=Q(status="pending"))]

    def __str__(self) -> str:
        return f"{self.id} {self.type} → {self.url} ({self.status})"
