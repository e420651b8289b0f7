"""The webhook event types of the voice room (discovered by the webhooks catalog)."""

from __future__ import annotations

_TIME = {"type": ["string", "null"], "format": "date-time"}

_CALL = {
    "type": "object",
    "required": ["call_id", "kind", "status", "to", "from"],
    "properties": {
        "call_id": {"type": "string"},
        "kind": {"enum": ["call", "callback"]},
        "status": {"enum": ["queued", "initiated", "ringing", "in-progress", "completed", "busy",
                            "no-answer", "failed", "canceled"]},
        "to": {"type": "string"},
        "from": {"type": "string"},
        "livemode": {"type": "boolean"},
        "initiated_at": _TIME,
        "answered_at": _TIME,
        "ended_at": _TIME,
        "duration": {"type": "integer"},
        "hangup_cause": {"type": "string"},
        "error_code": {"type": "string"},
    },
}

_LEG = {
    "type": "object",
    "required": ["call_id", "leg_id", "role", "status", "to", "from"],
    "properties": {
        "call_id": {"type": "string"},
        "leg_id": {"type": "string"},
        "role": {"enum": ["a", "b", "dial"]},
        "status": _CALL["properties"]["status"],
        "to": {"type": "string"},
        "from": {"type": "string"},
        "initiated_at": _TIME,
        "ringing_at": _TIME,
        "answered_at": _TIME,
        "ended_at": _TIME,
        "ring_seconds": {"type": "integer"},
        "duration": {"type": "integer"},
        "billable_seconds": {"type": "integer"},
        "hangup_cause": {"type": "string"},
        "hangup_by": {"type": "string"},
        "sip_code": {"type": ["integer", "null"]},
    },
}

EVENT_TYPES = [
    {"type": "call.initiated", "version": 1, "schema": _CALL,
     "description": "The platform started dialling the call (its first leg)."},
    {"type": "call.ringing", "version": 1, "schema": _CALL,
     "description": "The called party's phone is ringing."},
    {"type": "call.answered", "version": 1, "schema": _CALL,
     "description": "The call was answered; it is now in progress."},
    {"type": "call.completed", "version": 1, "schema": _CALL,
     "description": "The call ended; `status` says how: completed, busy, no-answer, failed or canceled."},
    {"type": "call.failed", "version": 1,
     "schema": {**_CALL, "required": [*_CALL["required"], "sip_code"],
                "properties": {**_CALL["properties"], "sip_code": {"type": ["integer", "null"]}}},
     "description": "The call failed (status `failed`): published beside `call.completed`, with the "
                    "SIP code of its first leg (null when it never reached the network)."},
    {"type": "call.leg.initiated", "version": 1, "schema": _LEG,
     "description": "A leg of a call started dialling."},
    {"type": "call.leg.ringing", "version": 1, "schema": _LEG, "description": "A leg is ringing."},
    {"type": "call.leg.answered", "version": 1, "schema": _LEG, "description": "A leg was answered."},
    {"type": "call.leg.completed", "version": 1, "schema": _LEG,
     "description": "A leg ended; the data is its CDR (times, durations, hangup cause, SIP code)."},
    {"type": "call.error", "version": 1,
     "description": "A call-control problem: a document that could not be fetched, parsed or run.",
     "schema": {"type": "object", "required": ["call_id", "code", "message"],
                "properties": {"call_id": {"type": "string"}, "code": {"type": "string"},
                               "message": {"type": "string"}, "url": {"type": "string"},
                               "line": {"type": ["integer", "null"]}}}},
    {"type": "call.recording.completed", "version": 1,
     "description": "A recording of a call is stored and can be fetched.",
     "schema": {"type": "object", "required": ["recording_id", "call_id"],
                "properties": {"recording_id": {"type": "string"}, "call_id": {"type": "string"},
                               "duration": {"type": "integer"}, "url": {"type": "string"}}}},
]
