"""The webhook event types of the RTC room (discovered by the webhooks catalog)."""

from __future__ import annotations

_ROOM = {"type": "object", "required": ["room_id", "kind"],
         "properties": {"room_id": {"type": "string"}, "name": {"type": "string"}, "kind": {"enum": ["audio", "video"]},
                        "livemode": {"type": "boolean"}, "reason": {"type": "string"},
                        "size_bytes": {"type": "integer"}}}
_PARTICIPANT = {"type": "object", "required": ["room_id", "participant_id", "identity"],
                "properties": {"room_id": {"type": "string"}, "participant_id": {"type": "string"},
                               "identity": {"type": "string"}, "livemode": {"type": "boolean"},
                               "reason": {"enum": ["left", "expired", "disconnected", "kicked", "revoked",
                                                   "room_closed"]},
                               "duration_seconds": {"type": "integer"}}}

EVENT_TYPES = [
    {"type": "rtc.room.started", "description": "An RTC room was created on a media server.", "schema": _ROOM},
    {"type": "rtc.room.ended", "description": "An RTC room was closed; everyone in it was dropped.",
     "schema": _ROOM},
    {"type": "rtc.recording.ready", "description": "A closed room's mixed-audio recording is downloadable.",
     "schema": _ROOM},
    {"type": "rtc.participant.joined", "description": "A token holder joined an RTC room.",
     "schema": _PARTICIPANT},
    {"type": "rtc.participant.left", "description": "A participant left, expired or was dropped at close.",
     "schema": _PARTICIPANT},
]
