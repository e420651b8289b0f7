"""SMS: messages and their lifecycle, numbers and sender pools, routes, opt-outs, per-app settings."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from cpaas.carriers.credentials import SECRET_FIELDS
from cpaas.core.ids import id_field
from cpaas.core.scoping import SHARED, Scoping


class Status(models.TextChoices):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELED = "canceled"
    RECEIVED = "received"


class Direction(models.TextChoices):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class Mode(models.TextChoices):
    TEST = "test"
    LIVE = "live"


class Message(models.Model):
    """One SMS, outbound or inbound. Status changes only through conditional UPDATEs (states.py)."""

    id = id_field("msg")
    # The hottest insert of the platform: no database FK checks (each took a FOR KEY SHARE lock on
    # the tenant's and the app's row) and no single-column indexes the composite ones cover.
    # PROTECT still holds through the ORM; rows are written only with an authenticated caller's
    # ids (docs/decisions/0415-sms-send-lean-row.md).
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+",
                               db_constraint=False, db_index=False)
    app = models.ForeignKey("tenants.App", on_delete=models.PROTECT, related_name="messages",
                            db_constraint=False, db_index=False)
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.OUTBOUND)
    mode = models.CharField(max_length=4, choices=Mode.choices, default=Mode.TEST)
    scoping = Scoping.app()
    to = models.CharField(max_length=20)
    sender = models.CharField("from", max_length=20)
    sender_pool = models.CharField(max_length=40, blank=True, default="")
    country = models.CharField(max_length=2, blank=True, default="")  # destination (or origin if inbound)
    body = models.TextField()
    encoding = models.CharField(max_length=8)
    segments = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=12, choices=Status.choices)
    sequence = models.PositiveIntegerField(default=1)
    error_code = models.CharField(max_length=40, blank=True, default="")
    error_message = models.CharField(max_length=300, blank=True, default="")
    reference = models.CharField(max_length=100, blank=True, default="")
    status_callback = models.URLField(max_length=500, blank=True, default="")
    # The statuses the status callback hears of (status_callbacks.py); empty: every one.
    status_callback_events = models.JSONField(default=list, blank=True)
    # The shape of its status callbacks: "" (Standard Webhooks JSON) or a registered dialect
    # ("twilio": Twilio's form post signed with X-Twilio-Signature).
    dialect = models.CharField(max_length=10, blank=True, default="")
    validity_period = models.PositiveIntegerField(null=True, blank=True)  # seconds
    price = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, default="")
    # carrier side
    connector = models.CharField(max_length=40, blank=True, default="")
    carrier_message_id = models.CharField(max_length=80, blank=True, default="")
    tried_connectors = models.JSONField(default=list, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    # one timestamp per status
    created_at = models.DateTimeField(default=timezone.now)
    send_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    sending_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    undelivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["app", "id"], name="msg_app_idx"),
            models.Index(fields=["tenant", "id"], name="msg_tenant_idx"),
            models.Index(fields=["app", "status", "id"], name="msg_app_status_idx"),
            models.Index(fields=["app", "to", "id"], name="msg_app_to_idx"),
            models.Index(fields=["connector", "carrier_message_id"], name="msg_carrier_idx",
                         condition=~Q(carrier_message_id="")),
            models.Index(fields=["id"], name="msg_queued_idx", condition=Q(status="queued")),
            models.Index(fields=["lease_until"], name="msg_sending_idx", condition=Q(status="sending")),
            models.Index(fields=["send_at"], name="msg_scheduled_idx", condition=Q(status="scheduled")),
        ]

    def __str__(self) -> str:
        return self.id


class PhoneNumber(models.Model):
    """A number an app owns: sends from it, receives on it."""

    id = id_field("pn")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    app = models.ForeignKey("tenants.App", on_delete=models.PROTECT, related_name="phone_numbers")
    number = models.CharField(max_length=20, unique=True)
    country = models.CharField(max_length=2)
    mode = models.CharField(max_length=4, choices=Mode.choices, default=Mode.TEST)
    scoping = Scoping.app()
    capabilities = models.JSONField(default=list)  # ["sms", "voice"]
    connector = models.CharField(max_length=40, default="sandbox")
    inbound_enabled = models.BooleanField(default=True)
    # Inbound calls: the call-control document is fetched from voice_url (voice_fallback_url when
    # that fails); a number without voice_url refuses calls (SIP 404).
    voice_url = models.URLField(max_length=2000, blank=True, default="")
    voice_fallback_url = models.URLField(max_length=2000, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["app", "id"], name="pn_app_idx")]

    def __str__(self) -> str:
        return self.number


class SenderPool(models.Model):
    """Numbers that share the sending; each recipient keeps getting the same one (sticky sender)."""

    id = id_field("pool")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    app = models.ForeignKey("tenants.App", on_delete=models.PROTECT, related_name="sender_pools")
    mode = models.CharField(max_length=4, choices=Mode.choices)  # of the key that made it; its numbers share it
    scoping = Scoping.app()
    name = models.CharField(max_length=100)
    numbers = models.ManyToManyField(PhoneNumber, related_name="pools")
    created_at = models.DateTimeField(default=timezone.now)


class StickySender(models.Model):
    pool = models.ForeignKey(SenderPool, on_delete=models.CASCADE, related_name="sticky")
    recipient = models.CharField(max_length=20)
    number = models.CharField(max_length=20)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pool", "recipient"], name="sticky_unique")]


class OptOut(models.Model):
    """A recipient who said STOP to this app."""

    app = models.ForeignKey("tenants.App", on_delete=models.CASCADE, related_name="+")
    number = models.CharField(max_length=20)
    keyword = models.CharField(max_length=20, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "number"], name="optout_unique")]


class SmsSettings(models.Model):
    """Per-app SMS settings: protection (geo, daily cap, velocity) and inbound (HELP text)."""

    scoping = Scoping.app(mode=SHARED)  # the app's policy, for both modes
    app = models.OneToOneField("tenants.App", on_delete=models.CASCADE, primary_key=True,
                               related_name="sms_settings")
    # ISO 3166 alpha-2 codes; None = not set (live keys may send nowhere, test keys anywhere).
    allowed_countries = models.JSONField(null=True, blank=True)
    daily_cap = models.PositiveIntegerField(null=True, blank=True)
    velocity_limit = models.PositiveIntegerField(null=True, blank=True)  # per prefix per window
    help_text = models.CharField(max_length=320, blank=True, default="")
    # The status-callback signing secrets, one per mode so a test key never sees or changes what
    # signs live callbacks: {"live": {"secret": <keyring token>, "hint": "whsec_…abcd"}, "test": …}.
    # Shown once when created or rotated, afterwards only the hint (decision 0846).
    callback_secrets = models.JSONField(default=dict, blank=True)


class Connector(models.Model):
    """A carrier connection the operator configured (sandbox, smpp, http). Platform-wide."""

    class Kind(models.TextChoices):
        SANDBOX = "sandbox"
        SMPP = "smpp"
        HTTP = "http"

    id = models.CharField(primary_key=True, max_length=40)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    config = models.JSONField(default=dict, blank=True)  # never a credential: see the constraint
    # The credentials (SMPP password, HTTP headers and callback token), one keyring token, opened
    # only by the connector when it binds (cpaas.carriers.credentials; write with connector_save).
    credentials = models.TextField(blank=True, default="")
    throughput = models.PositiveIntegerField(default=100, help_text="messages/second")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(config__has_any_keys=sorted(SECRET_FIELDS)),
                                   name="connector_config_without_credentials"),
        ]

    def __str__(self) -> str:
        return self.id


class Route(models.Model):
    """Which connector carries messages to a destination. App routes beat platform routes."""

    id = id_field("rte")
    app = models.ForeignKey("tenants.App", null=True, blank=True, on_delete=models.CASCADE,
                            related_name="+")
    prefix = models.CharField(max_length=16, blank=True, default="")  # "+44", "+4477"
    country = models.CharField(max_length=2, blank=True, default="")
    priority = models.PositiveSmallIntegerField(default=100)  # lower first
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="routes")
    created_at = models.DateTimeField(default=timezone.now)


class ReceiptOrphan(models.Model):
    """A delivery receipt that arrived before its message recorded the carrier id."""

    connector = models.CharField(max_length=40)
    carrier_message_id = models.CharField(max_length=80)
    status = models.CharField(max_length=12)
    error_code = models.CharField(max_length=40, blank=True, default="")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connector", "carrier_message_id", "status"],
                                               name="orphan_unique")]
