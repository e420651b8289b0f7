"""Input serializers and output shapes of the Calls and Recordings API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from cpaas.core.serializers import StrictSerializer
from cpaas.voice import states
from cpaas.voice.models import Call, CallLeg, Recording


class _StatusEvents(serializers.ListField):
    child = serializers.ChoiceField(choices=states.STATUS_EVENTS)


class CallCreateIn(StrictSerializer):
    to = serializers.JSONField()
    from_ = serializers.JSONField()
    url = serializers.CharField(required=False, max_length=2000)  # the egress checks it (services)
    instructions = serializers.CharField(required=False, trim_whitespace=False, allow_blank=True)
    status_callback = serializers.CharField(required=False, max_length=2000)  # the egress checks it
    status_events = _StatusEvents(required=False, max_length=4)
    timeout = serializers.IntegerField(required=False, min_value=5, max_value=600, default=30)
    time_limit = serializers.IntegerField(required=False, min_value=1, max_value=14400, default=14400)
    record = serializers.BooleanField(required=False, default=False)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


class CallbackCreateIn(StrictSerializer):
    party_a = serializers.JSONField()
    party_b = serializers.JSONField()
    caller_id_a = serializers.JSONField()
    caller_id_b = serializers.JSONField()
    prompt = serializers.CharField(required=False, max_length=1000, allow_blank=True, default="")
    status_callback = serializers.CharField(required=False, max_length=2000)  # the egress checks it
    status_events = _StatusEvents(required=False, max_length=4)
    timeout = serializers.IntegerField(required=False, min_value=5, max_value=600, default=30)
    time_limit = serializers.IntegerField(required=False, min_value=1, max_value=14400, default=14400)
    record = serializers.BooleanField(required=False, default=False)


class CallModifyIn(StrictSerializer):
    status = serializers.ChoiceField(required=False, choices=[states.COMPLETED, states.CANCELED])
    url = serializers.CharField(required=False, max_length=2000)  # the egress checks it (services)
    instructions = serializers.CharField(required=False, trim_whitespace=False, allow_blank=True)


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def leg_out(leg: CallLeg) -> dict[str, Any]:
    return {
        "id": leg.id,
        "object": "call_leg",
        "role": leg.role,
        "to": leg.to,
        "from": leg.from_number,
        "country": leg.country,
        "status": leg.status,
        "initiated_at": _iso(leg.initiated_at),
        "ringing_at": _iso(leg.ringing_at),
        "answered_at": _iso(leg.answered_at),
        "ended_at": _iso(leg.ended_at),
        "ring_seconds": leg.ring_seconds,
        "duration": leg.duration_seconds,
        "billable_seconds": leg.billable_seconds,
        "hangup_cause": leg.hangup_cause,
        "hangup_by": leg.hangup_by,
        "sip_code": leg.sip_code,
    }


def call_out(call: Call) -> dict[str, Any]:
    legs = sorted(call.legs.all(), key=lambda leg: leg.position)
    return {
        "id": call.id,
        "object": "call",
        "kind": call.kind,
        "direction": call.direction,
        "status": call.status,
        "to": call.to,
        "from": call.from_number,
        "url": call.url or None,
        "instructions": call.instructions or None,
        "prompt": call.prompt or None,
        "status_callback": call.status_callback or None,
        "status_events": call.status_events,
        "timeout": call.timeout,
        "time_limit": call.time_limit,
        "record": call.record,
        "hangup_cause": call.hangup_cause,
        "error_code": call.error_code or None,
        "error_message": call.error_message or None,
        "created": _iso(call.created_at),
        "initiated_at": _iso(call.initiated_at),
        "answered_at": _iso(call.answered_at),
        "ended_at": _iso(call.ended_at),
        "duration": call.duration_seconds,
        "livemode": call.mode == "live",
        "legs": [leg_out(leg) for leg in legs],
    }


def recording_out(recording: Recording) -> dict[str, Any]:
    return {
        "id": recording.id,
        "object": "recording",
        "call_id": recording.call_id,
        "leg_id": recording.leg_id,
        "source": recording.source,
        "content_type": recording.content_type,
        "duration": recording.duration_seconds,
        "size": recording.size_bytes,
        "channels": recording.channels,
        "sample_rate": recording.sample_rate,
        "created": _iso(recording.created_at),
        "audio_url": f"/v1/recordings/{recording.id}/audio",
    }
