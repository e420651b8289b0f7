"""Writes of the RTC room: rooms, tokens, joins and leaves (the platform's signalling).

Order for rooms: the media server first, then our row, so a server that is down leaves nothing
behind (503 ``rtc_unavailable``); a failure to write our row destroys the room it just made.
A participant's leave records its participant-minutes and publishes ``rtc.participant.left``.
"""

from __future__ import annotations

import contextlib
import math
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from django.core.files import File
from django.db import transaction
from django.utils import timezone

import billing
from cpaas.core.errors import ApiError
from cpaas.core.ids import looks_like, new_id
from cpaas.core.scoping import Principal
from cpaas.rtc import conf
from cpaas.rtc.janus import Janus, JanusError, MediaServerDown
from cpaas.rtc.models import MediaServer, Participant, RevokedToken, Room
from cpaas.rtc.placement import server_for_new_room, unavailable
from cpaas.rtc.tokens import Grant, token_sign, token_verify
from cpaas.tenants.models import App
from cpaas.voice.storage import recordings_storage  # calls' and rooms' recordings share one backend
from webhooks import publish

METER = "rtc_participant_minutes"


def janus_for(server: MediaServer) -> Janus:
    return Janus(server.api_url, server.admin_key, timeout=conf.RTC_MEDIA_SERVER_TIMEOUT)


def _room_data(room: Room, **extra) -> dict:
    return {"room_id": room.id, "name": room.name, "kind": room.kind, "livemode": room.mode == "live", **extra}


def room_create(*, principal: Principal, name: str, kind: str, max_participants: int, record: bool = False,
                ends_at: datetime | None = None) -> Room:
    if kind != "audio":
        raise ApiError("Only `audio` rooms are built yet; `video` rooms are not.", code="rtc_kind_unsupported",
                       param="kind")
    server = server_for_new_room(record=record)
    room = Room(tenant_id=principal.tenant_id, app_id=principal.app_id, mode=principal.mode, name=name, kind=kind,
                max_participants=max_participants, record=record, ends_at=ends_at, media_server=server)
    janus = janus_for(server)
    try:
        janus.room_create(room.id, description=name, max_participants=max_participants,
                          record_file=str(Path(server.record_dir) / f"{room.id}.wav") if record else "")
    except (MediaServerDown, JanusError):
        raise unavailable() from None
    try:
        with transaction.atomic():
            room.save(force_insert=True)
            publish(room.app, "rtc.room.started", _room_data(room), idempotency_key=f"rtc-started-{room.id}",
                    livemode=room.mode == "live")
    except BaseException:
        janus.room_destroy(room.id)
        raise
    return room


def room_close(room: Room, *, reason: str = "closed") -> Room:
    """Close the room: everyone is dropped (and metered), then the media server's room destroyed."""
    with transaction.atomic():
        room = Room.objects.select_for_update().get(pk=room.pk)
        if room.status == "closed":
            return room
        room.status, room.closed_at = "closed", timezone.now()
        room.save(update_fields=["status", "closed_at"])
        for participant in Participant.objects.filter(room=room, left_at__isnull=True):
            _leave(participant, reason="room_closed")
        publish(room.app, "rtc.room.ended", _room_data(room, reason=reason), idempotency_key=f"rtc-ended-{room.id}",
                livemode=room.mode == "live")
    # a server that is down holds no room any more; ours is closed either way
    with contextlib.suppress(MediaServerDown, JanusError):
        janus_for(room.media_server).room_destroy(room.id)
    if room.record:
        recording_store(room)
    return room


def recording_store(room: Room) -> bool:
    """Move the closed room's WAV (Janus finalizes it on destroy) into the recordings storage and
    publish ``rtc.recording.ready``; False when there is none (nobody spoke, or the server died)."""
    source = Path(room.media_server.record_dir) / f"{room.id}.wav"
    if room.recording_name or not source.is_file():
        return False
    with source.open("rb") as handle:
        name = recordings_storage().save(f"rtc/{room.app_id}/{room.id}.wav", File(handle))
    size = source.stat().st_size
    with transaction.atomic():
        Room.objects.filter(pk=room.pk).update(recording_name=name, recording_bytes=size)
        room.recording_name, room.recording_bytes = name, size
        publish(room.app, "rtc.recording.ready", _room_data(room, size_bytes=size),
                idempotency_key=f"rtc-recording-{room.id}", livemode=room.mode == "live")
    source.unlink(missing_ok=True)
    return True


def token_create(*, room: Room, identity: str, privileges: list[str], ttl_seconds: int) -> dict:
    if room.status != "open":
        raise ApiError("This room is closed.", code="rtc_room_closed")
    expires_at = int(time.time()) + ttl_seconds
    grant = Grant(room.id, room.app_id, room.mode, identity, tuple(dict.fromkeys(privileges)), expires_at,
                  new_id("rtctok"))
    return {"id": grant.token_id, "object": "rtc_token", "token": token_sign(grant), "room_id": room.id,
            "identity": identity,
            "privileges": list(grant.privileges),
            "expires_at": datetime.fromtimestamp(expires_at, tz=UTC).isoformat()}


def join(*, token: str, offer_sdp: str) -> tuple[Participant, str]:
    """Check the token, admit the holder (``room_full`` past the limit) and join it on the media server.

    Returns the participant and Janus's SDP answer. A token without ``publish_audio`` joins muted:
    its audio is never mixed into the room.
    """
    grant = token_verify(token)
    if "subscribe" not in grant.privileges and "publish_audio" not in grant.privileges:
        raise ApiError("This token may neither publish nor subscribe.", code="rtc_privilege_missing", param="token")
    room = Room.objects.filter(pk=grant.room_id, app_id=grant.app_id, mode=grant.mode).select_related(
        "media_server", "app").first()
    if room is None:
        raise ApiError("No such RTC room.", code="not_found", param="token")
    if RevokedToken.objects.filter(pk=grant.token_id).exists():
        raise ApiError("This RTC token was revoked.", code="rtc_token_revoked", param="token")
    janus = janus_for(room.media_server)
    with transaction.atomic():
        room = Room.objects.select_for_update().select_related("media_server", "app").get(pk=room.pk)
        if room.status != "open":
            raise ApiError("This room is closed.", code="rtc_room_closed", param="token")
        present = Participant.objects.filter(room=room, left_at__isnull=True).count()
        if present >= room.max_participants:
            raise ApiError(f"This room allows {room.max_participants} participants and has them.",
                           code="room_full")
        participant = Participant(
            room=room, tenant_id=room.tenant_id, app_id=room.app_id, mode=room.mode, identity=grant.identity,
            token_id=grant.token_id, privileges=list(grant.privileges),
            expires_at=datetime.fromtimestamp(grant.expires_at, tz=UTC))
        try:
            joined = janus.join(room.id, participant_id=participant.id, display=grant.identity, offer_sdp=offer_sdp,
                                muted="publish_audio" not in grant.privileges)
        except (MediaServerDown, JanusError):
            raise unavailable() from None
        participant.janus_session, participant.janus_handle = joined.session, joined.handle
        participant.save(force_insert=True)
        publish(room.app, "rtc.participant.joined", _participant_data(participant),
                idempotency_key=f"rtc-joined-{participant.id}", livemode=room.mode == "live")
    return participant, joined.answer_sdp


def _participant_data(participant: Participant, **extra) -> dict:
    return {"room_id": participant.room_id, "participant_id": participant.id, "identity": participant.identity,
            "livemode": participant.mode == "live", **extra}


def _leave(participant: Participant, *, reason: str) -> None:
    """Inside a transaction: mark left, hang up its session, meter its minutes, publish the event."""
    now = timezone.now()
    updated = Participant.objects.filter(pk=participant.pk, left_at__isnull=True).update(left_at=now,
                                                                                         left_reason=reason)
    if not updated:
        return
    seconds = max(0, int((now - participant.joined_at).total_seconds()))
    room = participant.room
    with contextlib.suppress(MediaServerDown):  # the server is gone, and the session with it
        janus_for(room.media_server).destroy(participant.janus_session)
    app = App.objects.get(pk=participant.app_id)
    minutes = max(1, math.ceil(seconds / 60))  # per participant per join, rounded up to the minute
    billing.record_usage(app, METER, Decimal(minutes), subject=participant.identity,
                         dimensions={"media": room.kind, "tier": "audio", "room": room.id}, occurred_at=now,
                         idempotency_key=f"rtc-minutes-{participant.id}", mode=participant.mode)
    publish(app, "rtc.participant.left", _participant_data(participant, reason=reason, duration_seconds=seconds),
            idempotency_key=f"rtc-left-{participant.id}", livemode=participant.mode == "live")


def kick(participant: Participant) -> Participant:
    """Drop a participant now (the app's moderation); its token still works until it expires."""
    with transaction.atomic():
        _leave(participant, reason="kicked")
    participant.refresh_from_db()
    return participant


def token_revoke(*, room: Room, token_id: str) -> int:
    """Refuse the token from now on and drop its live participants; returns how many were dropped.

    Tokens are not stored (decision 1502): any well-formed id is recorded, revoking twice is fine.
    """
    if not looks_like(token_id, "rtctok"):
        raise ApiError(f"No such RTC token: {token_id}", code="not_found", param="token_id", status=404)
    RevokedToken.objects.get_or_create(token_id=token_id, defaults={"room": room})
    dropped = 0
    for participant in Participant.objects.select_related("room__media_server").filter(
            room=room, token_id=token_id, left_at__isnull=True):
        with transaction.atomic():
            _leave(participant, reason="revoked")
        dropped += 1
    return dropped


def mute(participant: Participant, *, muted: bool) -> Participant:
    """Take a live participant's audio out of the mix (or put it back, if its token may publish)."""
    if participant.left_at is not None:
        raise ApiError("This participant has left.", code="rtc_participant_left", param="participant_id")
    if not muted and "publish_audio" not in participant.privileges:
        raise ApiError("This participant's token may not publish audio.", code="rtc_privilege_missing",
                       param="muted")
    try:
        janus_for(participant.room.media_server).mute(participant.room_id, participant.id, muted=muted)
    except (MediaServerDown, JanusError):
        raise unavailable() from None
    return participant


def leave(*, token: str, participant_id: str, reason: str = "left") -> Participant:
    """The token holder leaves (its own participant only)."""
    grant = token_verify(token)
    if RevokedToken.objects.filter(pk=grant.token_id).exists():
        raise ApiError("This RTC token was revoked.", code="rtc_token_revoked", param="token")
    participant = Participant.objects.select_related("room__media_server").filter(
        pk=participant_id, room_id=grant.room_id, app_id=grant.app_id, mode=grant.mode,
        identity=grant.identity).first()
    if participant is None:
        raise ApiError(f"No such participant: {participant_id}", code="not_found", param="participant_id")
    with transaction.atomic():
        _leave(participant, reason=reason)
    participant.refresh_from_db()
    return participant


def drop_expired(*, now: datetime | None = None) -> int:
    """Drop every live participant whose token has expired, and close rooms past their end time.

    Run every few seconds by beat (cpaas/rtc/schedule.py); returns the participants dropped.
    """
    now = now or timezone.now()
    dropped = 0
    for participant in Participant.objects.select_related("room__media_server").filter(
            left_at__isnull=True, expires_at__lte=now)[:500]:
        with transaction.atomic():
            _leave(participant, reason="expired")
        dropped += 1
    dropped += reconcile_disconnected()
    for room in Room.objects.select_related("media_server").filter(status="open", ends_at__lte=now)[:100]:
        room_close(room, reason="ended_at")
    return dropped


def reconcile_disconnected() -> int:
    """Mark left (and meter) the participants the media server no longer has: a client that hung up,
    lost its network or closed its tab without calling leave. Janus drops them on ICE/DTLS hangup;
    its participant ids are ours (``join`` passes ``participant.id``)."""
    dropped = 0
    rooms = Room.objects.select_related("media_server").filter(
        status="open", participants__left_at__isnull=True).distinct()[:200]
    for room in rooms:
        try:
            present = {str(p.get("id")) for p in janus_for(room.media_server).participants(room.id)}
        except (MediaServerDown, JanusError):
            continue  # a server that is down is not proof that anyone left
        for participant in Participant.objects.select_related("room__media_server").filter(
                room=room, left_at__isnull=True).exclude(pk__in=present):
            with transaction.atomic():
                _leave(participant, reason="disconnected")
            dropped += 1
    return dropped


def live_participants(rooms: list[Room]) -> dict[str, list[Participant]]:
    out: dict[str, list[Participant]] = {r.id: [] for r in rooms}
    for p in Participant.objects.filter(room__in=rooms, left_at__isnull=True).order_by("joined_at"):
        out[p.room_id].append(p)
    return out



