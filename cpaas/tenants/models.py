"""Tenant → App → ApiKey, members with roles, and the audit log."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from cpaas.core.ids import id_field
from cpaas.core.scoping import SHARED, Scoping


class Tenant(models.Model):
    id = id_field("ten")
    name = models.CharField(max_length=200)
    # Aggregate requests/second over all the tenant's keys of one mode; None = the settings default.
    # Set by an operator only (manage.py tenant_limit), never through the tenant API.
    rate_limit_live = models.PositiveIntegerField(null=True, blank=True)
    rate_limit_test = models.PositiveIntegerField(null=True, blank=True)
    # Every console member must sign in with a second factor (decision 0851).
    require_two_factor = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    DEVELOPER = "developer", "Developer"
    FINANCE = "finance", "Finance"


class Membership(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.DEVELOPER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_user")
        ]


class App(models.Model):
    id = id_field("app")
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="apps")
    #: An app holds both modes' data: every key of the tenant sees it (docs/decisions/0801).
    scoping = Scoping.tenant(mode=SHARED)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["tenant", "id"], name="app_tenant_idx")]

    def __str__(self) -> str:
        return self.name


class KeyMode(models.TextChoices):
    TEST = "test", "Test"
    LIVE = "live", "Live"


class KeyAccess(models.TextChoices):
    FULL = "full", "Full access"
    READ_ONLY = "read_only", "Read only"


PRODUCTS = ("sms", "im", "voice", "rtc", "billing", "webhooks")


class ApiKey(models.Model):
    """A secret key. Only its SHA-256 is stored; ``prefix`` and ``last4`` let people tell keys apart."""

    id = id_field("key")
    app = models.ForeignKey(App, on_delete=models.PROTECT, related_name="api_keys")
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=200, blank=True, default="")
    mode = models.CharField(max_length=4, choices=KeyMode.choices)
    #: A key sees the tenant's keys of its own mode only: a test key cannot list or revoke live keys.
    scoping = Scoping.tenant(mode="mode")
    access = models.CharField(max_length=10, choices=KeyAccess.choices, default=KeyAccess.FULL)
    # Empty list: every product. Otherwise a subset of PRODUCTS.
    products = models.JSONField(default=list, blank=True)
    secret_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16)
    last4 = models.CharField(max_length=4)
    # None = the mode's default. Set by an operator only (manage.py apikey_limit).
    rate_limit = models.PositiveIntegerField(null=True, blank=True, help_text="requests/second")
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["tenant", "app", "id"], name="apikey_tenant_app_idx")]

    def __str__(self) -> str:
        return f"{self.prefix}…{self.last4}"

    @property
    def redacted(self) -> str:
        return f"{self.prefix}…{self.last4}"

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class AuditLogEntry(models.Model):
    """Who did what sensitive thing, when, from where. Append-only."""

    id = id_field("aud")
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="audit_log")
    action = models.CharField(max_length=64)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_key_id = models.CharField(max_length=40, blank=True, default="")
    target_type = models.CharField(max_length=32, blank=True, default="")
    target_id = models.CharField(max_length=64, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["tenant", "-created_at"], name="audit_tenant_time_idx")]

    @property
    def actor(self) -> str:
        if self.actor_user_id:
            return self.actor_user.get_username()
        return self.actor_key_id or "system"
