"""Request bodies and response shapes of the RTC API."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import serializers

from cpaas.rtc import conf
from cpaas.rtc.models import Participant, Room
from cpaas.rtc.tokens import PRIVILEGES


class RoomCreateIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=["audio", "video"])
    max_participants = serializers.IntegerField(min_value=1)
    record = serializers.BooleanField(required=False, default=False)
    ends_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def validate_ends_at(self, value):
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("Must be in the future.")
        return value

    def validate_max_participants(self, value: int) -> int:
        if value > conf.RTC_MAX_PARTICIPANTS:
            raise serializers.ValidationError(f"At most {conf.RTC_MAX_PARTICIPANTS}.")
        return value


class TokenCreateIn(serializers.Serializer):
    identity = serializers.RegexField(r"^[A-Za-z0-9_.@:-]{1,64}$")
    privileges = serializers.ListField(child=serializers.ChoiceField(choices=PRIVILEGES), min_length=1)
    ttl_seconds = serializers.IntegerField(min_value=1)

    def validate_ttl_seconds(self, value: int) -> int:
        if value > conf.RTC_TOKEN_MAX_TTL_SECONDS:
            raise serializers.ValidationError(f"At most {conf.RTC_TOKEN_MAX_TTL_SECONDS}.")
        return value


class JoinIn(serializers.Serializer):
    token = serializers.CharField(max_length=4096)
    sdp = serializers.CharField(max_length=65536)


class MuteIn(serializers.Serializer):
    muted = serializers.BooleanField()


class LeaveIn(serializers.Serializer):
    token = serializers.CharField(max_length=4096)


def participant_out(p: Participant) -> dict:
    return {"id": p.id, "object": "rtc_participant", "identity": p.identity, "privileges": p.privileges,
            "joined_at": p.joined_at.isoformat(), "expires_at": p.expires_at.isoformat(),
            "left_at": p.left_at.isoformat() if p.left_at else None, "left_reason": p.left_reason or None}


def room_out(room: Room, participants: list[Participant]) -> dict:
    return {"id": room.id, "object": "rtc_room", "name": room.name, "kind": room.kind,
            "max_participants": room.max_participants, "record": room.record,
            "ends_at": room.ends_at.isoformat() if room.ends_at else None, "status": room.status,
            "livemode": room.mode == "live", "created_at": room.created_at.isoformat(),
            "closed_at": room.closed_at.isoformat() if room.closed_at else None,
            "recording": ({"url": f"/v1/rtc/rooms/{room.id}/recording", "size_bytes": room.recording_bytes,
                           "content_type": "audio/wav"} if room.recording_name else None),
            "participants": [participant_out(p) for p in participants]}
