"""Media servers (the placement table), rooms on them, and the participants in them.

``MediaServer`` is the platform's, not a tenant's: one row per Janus process; a room is placed on
one enabled server at creation and stays there (decision 1500). ``Room`` and ``Participant`` are
scoped by app and mode like every tenant row.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from cpaas.core.ids import id_field
from cpaas.core.scoping import Scoping


class MediaServer(models.Model):
    """One Janus process the platform places rooms on, reached on its (private) HTTP API."""

    name = models.CharField(max_length=64, unique=True)
    api_url = models.CharField(max_length=200)  # e.g. http://127.0.0.1:8088/janus
    admin_key = models.CharField(max_length=128)  # the plugins' admin_key: only the platform creates rooms
    enabled = models.BooleanField(default=True)
    capacity = models.PositiveIntegerField(default=100)  # open rooms it takes before placement skips it
    # Where Janus writes room recordings, readable by the platform (same host or a shared mount);
    # empty: this server takes no recorded rooms.
    record_dir = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "rtc_media_server"


class Room(models.Model):
    id = id_field("rtcr")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    app = models.ForeignKey("tenants.App", on_delete=models.PROTECT, related_name="rtc_rooms")
    mode = models.CharField(max_length=4)
    scoping = Scoping.app()
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=8)  # "audio" (the only kind built yet; "video" is refused)
    max_participants = models.PositiveIntegerField()
    record = models.BooleanField(default=False)
    ends_at = models.DateTimeField(null=True)
    status = models.CharField(max_length=8, default="open")  # open → closed
    media_server = models.ForeignKey(MediaServer, on_delete=models.PROTECT, related_name="rooms")
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True)
    recording_name = models.CharField(max_length=300, blank=True, default="")  # in the recordings storage
    recording_bytes = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "rtc_room"
        indexes = [models.Index(fields=["app", "mode", "id"], name="rtc_room_app_idx")]


class Participant(models.Model):
    """One join of one token holder: its Janus session is held by the platform until it leaves."""

    id = id_field("rtcp")
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="participants")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    app = models.ForeignKey("tenants.App", on_delete=models.PROTECT, related_name="+")
    mode = models.CharField(max_length=4)
    scoping = Scoping.app()
    identity = models.CharField(max_length=64)
    token_id = models.CharField(max_length=40, default="")  # the token it joined with (revocation drops it)
    privileges = models.JSONField(default=list)
    janus_session = models.BigIntegerField()
    janus_handle = models.BigIntegerField()
    joined_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True)
    # left, expired, disconnected, kicked, revoked, room_closed
    left_reason = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        db_table = "rtc_participant"
        indexes = [models.Index(fields=["room", "left_at"], name="rtc_participant_room_idx"),
                   models.Index(fields=["left_at", "expires_at"], name="rtc_participant_expiry_idx")]


class RevokedToken(models.Model):
    """A token refused at join before its expiry; reached only through its (scoped) room."""

    token_id = models.CharField(max_length=40, primary_key=True)
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="revoked_tokens")
    revoked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "rtc_revoked_token"
