"""IM settings, read through ``cpaas.core.env`` with safe defaults (documented in docs/configuration.md).

Read as module attributes at the moment of use (``conf.HEARTBEAT_SECONDS``), so tests can monkeypatch them.
"""

from __future__ import annotations

from cpaas.core.env import env

# Connection tokens live this long unless the request says otherwise (seconds).
TOKEN_TTL_SECONDS = env.int("IM_TOKEN_TTL_SECONDS", 7 * 24 * 3600)
TOKEN_MAX_TTL_SECONDS = env.int("IM_TOKEN_MAX_TTL_SECONDS", 90 * 24 * 3600)
# Largest message body (the JSON of its content), in bytes.
MAX_MESSAGE_BYTES = env.int("IM_MAX_MESSAGE_BYTES", 32 * 1024)
# Largest group.
MAX_GROUP_MEMBERS = env.int("IM_MAX_GROUP_MEMBERS", 3000)
# A user may recall their own message within this many seconds.
RECALL_WINDOW_SECONDS = env.int("IM_RECALL_WINDOW_SECONDS", 120)
# Messages are served to sync for this long, and kept for history this long.
SYNC_RETENTION_DAYS = env.int("IM_SYNC_RETENTION_DAYS", 7)
HISTORY_RETENTION_DAYS = env.int("IM_HISTORY_RETENTION_DAYS", 30)
# Per-connection send rate limit: sustained frames/second and burst.
CONNECTION_SEND_RATE = env.int("IM_CONNECTION_SEND_RATE", 50)
CONNECTION_SEND_BURST = env.int("IM_CONNECTION_SEND_BURST", 100)
# Seconds between client pings the server expects; a silent connection is closed after 3 of them.
HEARTBEAT_SECONDS = env.int("IM_HEARTBEAT_SECONDS", 30)
# Chatroom overload shedding: per room, at most ROOM_WINDOW_MAX messages per ROOM_WINDOW_MS,
# ROOM_WINDOW_RESERVED_HIGH of them reserved for high-priority messages.
ROOM_WINDOW_MS = env.int("IM_ROOM_WINDOW_MS", 200)
ROOM_WINDOW_MAX = env.int("IM_ROOM_WINDOW_MAX", 40)
ROOM_WINDOW_RESERVED_HIGH = env.int("IM_ROOM_WINDOW_RESERVED_HIGH", 20)
ROOM_BACKLOG = env.int("IM_ROOM_BACKLOG", 50)
# The moderation pre-send hook: one try with this timeout; fail-open unless the app says otherwise.
HOOK_TIMEOUT_SECONDS = env.float("IM_HOOK_TIMEOUT_SECONDS", 3)
# Largest number of messages one sync page returns per conversation before the client asks again.
SYNC_PAGE = env.int("IM_SYNC_PAGE", 500)
# Threads the gateway uses for database work.
GATEWAY_DB_THREADS = env.int("IM_GATEWAY_DB_THREADS", 8)
# Presence: a connection counts as online this long after its last heartbeat (covers crashed gateways).
PRESENCE_TTL_SECONDS = env.int("IM_PRESENCE_TTL_SECONDS", 90)
# Redis pub/sub channel of the gateway bus.
BUS_CHANNEL = env.str("IM_BUS_CHANNEL", "cpaas:im:bus")
HOOK_ALLOW_PRIVATE = env.bool("IM_HOOK_ALLOW_PRIVATE", False)
# How often each gateway drains the message outbox (webhook events and usage of stored messages);
# 0 (the default): gateways leave it to Celery beat or ``manage.py im_outbox`` (docs/decisions/0504).
OUTBOX_INTERVAL_SECONDS = env.float("IM_OUTBOX_INTERVAL_SECONDS", 0)
