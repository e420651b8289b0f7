"""Webhook event types of the IM room (discovered by the webhooks catalog)."""

_MESSAGE = {
    "type": "object",
    "required": ["id", "conversation_id", "conversation_type", "seq", "type", "content", "created_at"],
    "properties": {
        "id": {"type": "string"},
        "conversation_id": {"type": "string"},
        "conversation_type": {"enum": ["private", "group", "chatroom", "broadcast"]},
        "seq": {"type": ["integer", "null"]},
        "from": {"type": ["string", "null"]},
        "type": {"type": "string"},
        "content": {"type": "object"},
        "client_msg_id": {"type": "string"},
        "recalled": {"type": "boolean"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}

_PRESENCE = {
    "type": "object",
    "required": ["user_id", "at"],
    "properties": {"user_id": {"type": "string"}, "at": {"type": "string", "format": "date-time"},
                   "session_id": {"type": "string"}},
}

EVENT_TYPES = [
    {"type": "im.message.created", "version": 1,
     "description": "A message was stored in a private, group or broadcast conversation.", "schema": _MESSAGE},
    {"type": "im.message.recalled", "version": 1,
     "description": "A stored message was recalled; its content is gone.",
     "schema": {"type": "object", "required": ["id", "conversation_id", "seq"],
                "properties": {"id": {"type": "string"}, "conversation_id": {"type": "string"},
                               "seq": {"type": "integer"}, "recalled_by": {"type": ["string", "null"]}}}},
    {"type": "im.user.online", "version": 1,
     "description": "An IM user opened their first live connection.", "schema": _PRESENCE},
    {"type": "im.user.offline", "version": 1,
     "description": "An IM user closed their last live connection.", "schema": _PRESENCE},
]
