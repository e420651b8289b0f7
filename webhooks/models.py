"""Events, endpoints, deliveries and their attempts.

A Delivery is one event owed to one endpoint; it stays ``pending`` until an attempt succeeds or
the retry schedule is exhausted. ``next_attempt_at`` is both the schedule and the lease: a
dispatcher claims a due row by moving it forward by the lease (with a claim token), so a worker
that dies mid-delivery simply lets the lease run out and the row is due again.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from cpaas.core.ids import id_field
from cpaas.core.scoping import Scoping


class Event(models.Model):
    id = id_field("evt")
    # No database-level FK and no index of its own (decision 0110): every event INSERT ran the
    # FK trigger and took a KEY SHARE lock on the one app row all of a batch's events share, and
    # the (app, idempotency key) and (app, type, id) indexes already lead with the app.
    app = models.ForeignKey("tenants.App", on_delete=models.PROTECT, related_name="events", db_constraint=False,
                            db_index=False)
    type = models.CharField(max_length=64)
    data = models.JSONField()
    idempotency_key = models.CharField(max_length=200)
    # What the event is about (data["id"] when present) and its place in that subject's history,
    # so receivers can order what arrives out of order.
    subject = models.CharField(max_length=200, blank=True, default="")
    sequence = models.PositiveBigIntegerField(default=0)
    # Published by live (True) or test-mode (False) activity; it only reaches endpoints of that
    # mode and is listed only to keys of that mode. Every publisher states it (decision 0890).
    livemode = models.BooleanField()
    scoping = Scoping.app(mode="livemode", livemode_flag=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app", "idempotency_key"], name="event_unique_app_key")
        ]
        indexes = [
            models.Index(fields=["app", "type", "id"], name="event_app_type_idx"),
            models.Index(fields=["created_at"], name="event_created_idx"),
        ]


class SubjectSequence(models.Model):
    """The last sequence number given to a subject's events (one row per app and subject)."""

    app = models.ForeignKey("tenants.App", on_delete=models.CASCADE, related_name="+", db_constraint=False,
                            db_index=False)  # as Event.app (decision 0110)
    subject = models.CharField(max_length=200)
    value = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app", "subject"], name="subjectseq_unique_app_subject")
        ]


class Endpoint(models.Model):
    id = id_field("we")
    app = models.ForeignKey("tenants.App", on_delete=models.PROTECT, related_name="webhook_endpoints")
    url = models.CharField(max_length=2048)
    description = models.CharField(max_length=500, blank=True, default="")
    # Empty: every event type.
    event_types = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    mode = models.CharField(max_length=4, default="test")  # the mode of the key that created it
    scoping = Scoping.app()
    rate_limit = models.PositiveIntegerField(null=True, blank=True, help_text="deliveries/second")
    # [{"secret": <Fernet token>, "expires_at": ISO time or null}], the current secret first.
    secrets = models.JSONField(default=list)
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["app", "id"], name="endpoint_app_idx")]

    def __str__(self) -> str:
        return self.url


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = id_field("dlv")
    app = models.ForeignKey("tenants.App", on_delete=models.CASCADE, related_name="+")
    scoping = Scoping.app(mode="endpoint__mode")  # a delivery has its endpoint's mode
    # No single-column FK indexes: delivery_endpoint_idx and delivery_event_idx lead with these
    # columns, and every index is written on each claim and result (updates here are never HOT).
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True, default="")
    # A manual retry or recover gets one attempt, not a new schedule.
    manual = models.BooleanField(default=False)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # Claims look for due work per endpoint (docs/decisions/0109).
            models.Index(fields=["endpoint", "next_attempt_at"], condition=Q(status="pending"),
                         name="delivery_endpoint_due_idx"),
            models.Index(fields=["endpoint", "id"], name="delivery_endpoint_idx"),
            models.Index(fields=["endpoint", "status", "created_at"], name="delivery_ep_status_idx"),
            models.Index(fields=["event"], name="delivery_event_idx"),
        ]


class Attempt(models.Model):
    id = id_field("att")
    # attempt_delivery_idx leads with delivery: no second index on it. No database-level FK
    # (decision 0110): its deferred check at the results transaction's COMMIT, against delivery
    # rows that same transaction had just updated, cost PostgreSQL ~0.8 ms per attempt, so the
    # dispatcher fell behind at 1,000 deliveries/s. Attempts are written only for deliveries the
    # dispatcher holds a claim on; deleting a delivery still deletes its attempts (Django's cascade).
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log", db_index=False,
                                 db_constraint=False)
    endpoint_id = models.CharField(max_length=40)
    created_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    response_body = models.TextField(blank=True, default="")  # the first 1 KiB
    error = models.CharField(max_length=500, blank=True, default="")
    # The signed request as sent (webhook-id, webhook-timestamp, webhook-signature, …).
    request_headers = models.JSONField(default=dict)
    succeeded = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["delivery", "created_at"], name="attempt_delivery_idx")]
