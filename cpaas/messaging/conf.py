"""SMS settings, read through ``cpaas.core.env`` with safe defaults (documented in docs/configuration.md).

Read as module attributes at the moment of use (``conf.LEASE_SECONDS``), so tests can monkeypatch them.
"""

from __future__ import annotations

from cpaas.core.env import env

# Messages one dispatch task claims and submits at a time.
DISPATCH_BATCH = env.int("SMS_DISPATCH_BATCH", 100)
# A dispatch kick is sent at most once per this many seconds while no dispatcher has started
# (the task clears the flag as it starts; the TTL only matters when a kick is lost).
KICK_FLAG_SECONDS = env.int("SMS_KICK_FLAG_SECONDS", 5)
# A process sends at most one dispatch kick (a Redis SET NX) per this many milliseconds; kicks
# asked meanwhile coalesce into the next. A lone send is kicked at once; under a stream of sends
# a dispatcher is already queued or running, and 100 kicks/s per process cost ~70 µs of each
# send's CPU (decision 0420).
KICK_PAUSE_MS = env.int("SMS_KICK_PAUSE_MS", 50)
# A dispatch task stops claiming after this many seconds and hands over to a fresh task.
DISPATCH_SECONDS = env.int("SMS_DISPATCH_SECONDS", 3)
# A dispatch task keeps claiming, every DISPATCH_POLL_MS, until no message came for
# DISPATCH_IDLE_MS: under a stream of single sends one task serves them all (a task per kick cost
# more than the messages it sent). 50 ms, not 20: a batch's statements cost the same for 5
# messages as for 50, and 30 ms more before the submit is nothing beside a receipt (decision 1022).
DISPATCH_POLL_MS = env.int("SMS_DISPATCH_POLL_MS", 50)
DISPATCH_IDLE_MS = env.int("SMS_DISPATCH_IDLE_MS", 1000)
# A claimed (sending) message whose lease ran out is reconciled by the sweeper.
LEASE_SECONDS = env.int("SMS_LEASE_SECONDS", 60)
# Scheduling window for send_at.
SEND_AT_MIN_SECONDS = env.int("SMS_SEND_AT_MIN_SECONDS", 15 * 60)
SEND_AT_MAX_SECONDS = env.int("SMS_SEND_AT_MAX_SECONDS", 7 * 24 * 3600)
BATCH_MAX = env.int("SMS_BATCH_MAX", 1000)
# Velocity guard: at most this many messages to one number prefix per window, per app.
VELOCITY_LIMIT = env.int("SMS_VELOCITY_LIMIT", 500)
VELOCITY_WINDOW_SECONDS = env.int("SMS_VELOCITY_WINDOW_SECONDS", 60)
VELOCITY_PREFIX_DIGITS = env.int("SMS_VELOCITY_PREFIX_DIGITS", 8)
# A connector for live messages no route matches; empty: none (they are refused, ``no_route``).
# The sandbox never carries live traffic, so "sandbox" here is ignored.
FALLBACK_CONNECTOR = env.str("SMS_FALLBACK_CONNECTOR", "")
# Journal of submits kept in Redis so a crashed worker's submits are reconciled, not resent.
JOURNAL_TTL_SECONDS = env.int("SMS_JOURNAL_TTL_SECONDS", 7 * 24 * 3600)
# Receipts held for a settle are journaled this long (deleted by the settle; read by the sweeper).
RECEIPT_JOURNAL_TTL_SECONDS = env.int("SMS_RECEIPT_JOURNAL_TTL_SECONDS", 24 * 3600)
# Parts of a multipart inbound message wait this long for the rest.
CONCAT_TTL_SECONDS = env.int("SMS_CONCAT_TTL_SECONDS", 3600)
# Workers consuming the ``sms`` queue open their SMPP binds at start (decision 0912); 0: on first submit.
EAGER_BINDS = env.bool("SMS_EAGER_BINDS", True)
# The lean send path (cpaas/messaging/accept/, decision 1010): ``POST /v1/messages`` served by a
# small ASGI handler beside Django, its rows group-committed. Off: Django serves it as before.
LEAN_ACCEPT = env.bool("SMS_LEAN_ACCEPT", True)
# Threads per web process for the send's synchronous stages (key, validation, caps, money).
ACCEPT_THREADS = env.int("SMS_ACCEPT_THREADS", 4)
# PostgreSQL connections per web process for the group commit (one commit in flight on each).
ACCEPT_DB_CONNECTIONS = env.int("SMS_ACCEPT_DB_CONNECTIONS", 2)
# Most rows one group commit writes.
ACCEPT_GROUP_MAX = env.int("SMS_ACCEPT_GROUP_MAX", 500)
