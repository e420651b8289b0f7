"""Calls, their legs (each leg is one CDR), the call log (timeline and debugger) and recordings."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from cpaas.core.ids import id_field
from cpaas.core.scoping import SHARED, Scoping
from cpaas.voice import states

STATUS_CHOICES = [(s, s) for s in states.STATUSES]


class CallKind(models.TextChoices):
    CALL = "call", "Call"
    CALLBACK = "callback", "Callback"


class Call(models.Model):
    """One call as the tenant sees it: an outbound call, or a callback call with two legs."""

    id = id_field("call")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    app = models.ForeignKey("tenants.App", on_delete=models.PROTECT, related_name="calls")
    mode = models.CharField(max_length=4)  # "test" (sandbox network) or "live"
    scoping = Scoping.app()
    kind = models.CharField(max_length=10, choices=CallKind.choices, default=CallKind.CALL)
    direction = models.CharField(max_length=10, default="outbound")
    to = models.CharField(max_length=20)
    from_number = models.CharField(max_length=20)
    status = models.CharField(max_length=12, choices=STATUS_CHOICES, default=states.QUEUED)
    # Call control: a URL fetched with a signed POST, or an inline document.
    url = models.URLField(max_length=2000, blank=True, default="")
    fallback_url = models.URLField(max_length=2000, blank=True, default="")  # inbound: the number's fallback
    instructions = models.TextField(blank=True, default="")
    prompt = models.CharField(max_length=1000, blank=True, default="")
    status_callback = models.URLField(max_length=2000, blank=True, default="")
    status_events = models.JSONField(default=list, blank=True)
    # How its documents are fetched and read and its status callbacks shaped: "" (ours) or a
    # dialect another surface registered ("twilio": TwiML, form posts, X-Twilio-Signature).
    dialect = models.CharField(max_length=10, blank=True, default="")
    timeout = models.PositiveIntegerField(default=30)  # ring time, seconds
    time_limit = models.PositiveIntegerField(default=14400)  # max talk time, seconds
    record = models.BooleanField(default=False)
    # A redirect or hangup requested through the API while the call is live.
    control_seq = models.PositiveIntegerField(default=0)
    pending_control = models.JSONField(null=True, blank=True)
    hangup_cause = models.CharField(max_length=40, blank=True, default="")
    error_code = models.CharField(max_length=40, blank=True, default="")
    error_message = models.CharField(max_length=500, blank=True, default="")
    claimed_by = models.CharField(max_length=100, blank=True, default="")
    claimed_at = models.DateTimeField(null=True, blank=True)
    initiated_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["app", "id"], name="call_app_idx"),
            models.Index(fields=["app", "status", "id"], name="call_app_status_idx"),
            models.Index(fields=["status", "claimed_at"], name="call_sweep_idx"),
            # The engines' control poll: only calls with a control waiting are in it.
            models.Index(fields=["id"], condition=models.Q(pending_control__isnull=False),
                         name="call_pending_control_idx"),
        ]

    @property
    def is_final(self) -> bool:
        return self.status in states.FINAL


class CallLeg(models.Model):
    """One leg of a call, dialled by the platform; its fields are the leg's CDR."""

    id = id_field("leg")
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="legs")
    app = models.ForeignKey("tenants.App", on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=8)  # "a", "b" (callback) or "dial" (a <Dial> verb)
    position = models.PositiveSmallIntegerField(default=0)
    to = models.CharField(max_length=255)  # E.164, or a sip: address (<Dial><Sip>)
    from_number = models.CharField(max_length=20)
    country = models.CharField(max_length=2, blank=True, default="")
    status = models.CharField(max_length=12, choices=STATUS_CHOICES, default=states.QUEUED)
    timeout = models.PositiveIntegerField(default=30)
    initiated_at = models.DateTimeField(null=True, blank=True)
    ringing_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ring_seconds = models.PositiveIntegerField(default=0)
    duration_seconds = models.PositiveIntegerField(default=0)
    billable_seconds = models.PositiveIntegerField(default=0)
    hangup_cause = models.CharField(max_length=40, blank=True, default="")
    hangup_by = models.CharField(max_length=10, blank=True, default="")  # remote | platform
    sip_code = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["app", "call", "position"], name="leg_app_call_idx")]
        constraints = [
            models.UniqueConstraint(fields=["call", "position"], name="leg_unique_position"),
        ]


class CallLogEntry(models.Model):
    """The call's timeline: status changes, verbs, fetches, and call-control errors (debugger)."""

    app = models.ForeignKey("tenants.App", on_delete=models.PROTECT, related_name="+")
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="log")
    leg = models.ForeignKey(CallLeg, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10)  # status | verb | fetch | control | error
    level = models.CharField(max_length=8, default="info")  # info | error
    message = models.CharField(max_length=500)
    detail = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["app", "call", "id"], name="calllog_app_call_idx"),
            models.Index(fields=["app", "level", "id"], name="calllog_app_level_idx"),
        ]


class Recording(models.Model):
    id = id_field("rec")
    app = models.ForeignKey("tenants.App", on_delete=models.PROTECT, related_name="recordings")
    scoping = Scoping.app(mode="call__mode")  # a recording has its call's mode
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="recordings")
    leg = models.ForeignKey(CallLeg, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source = models.CharField(max_length=10)  # "call" (record=true) or "verb" (<Record>)
    storage_name = models.CharField(max_length=300)
    content_type = models.CharField(max_length=40, default="audio/wav")
    duration_seconds = models.PositiveIntegerField(default=0)
    size_bytes = models.PositiveIntegerField(default=0)
    channels = models.PositiveSmallIntegerField(default=1)
    sample_rate = models.PositiveIntegerField(default=8000)
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["app", "id"], name="recording_app_idx")]


class VoiceEngine(models.Model):
    """The lease of one engine (one worker process): renewed while it runs, so the sweeper can tell
    a call whose engine died (its lease expired) from one still being played out."""

    name = models.CharField(max_length=100, primary_key=True)  # host:pid:boot token, as in Call.claimed_by
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now)


class VoiceSettings(models.Model):
    """Per-app voice settings: the secret that signs call-control fetches and status callbacks.

    One secret per mode so a test key never sees or changes what signs live traffic:
    {"live": {"secret": <keyring token>, "hint": "whsec_…abcd"}, "test": …}. Shown once when
    created or rotated, afterwards only the hint (decision 0870).
    """

    # One row serves both modes; a key reads and rotates only its own mode's entry inside it
    # (cpaas.voice.signing, given the key's mode).
    scoping = Scoping.app(mode=SHARED)
    app = models.OneToOneField("tenants.App", on_delete=models.CASCADE, primary_key=True,
                               related_name="voice_settings")
    signing_secrets = models.JSONField(default=dict, blank=True)


class SipTrunk(models.Model):
    """A carrier's SIP trunk for live calls (``manage.py sip_trunk``): its configuration
    (cpaas/carriers/sip/config.py; the password sealed apart in ``credentials``) and the
    destinations it serves. Calls try the enabled trunks whose longest prefix matches, lowest
    ``priority`` first, failing over on 5xx or no answer at all (decision 1103)."""

    id = models.CharField(primary_key=True, max_length=40)
    config = models.JSONField(default=dict)
    credentials = models.TextField(blank=True, default="")
    prefixes = models.JSONField(default=list)  # E.164 prefixes ("+44"); empty: every destination
    priority = models.IntegerField(default=100)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.id
