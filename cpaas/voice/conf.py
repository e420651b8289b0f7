"""Voice settings, read through ``cpaas.core.env`` with safe defaults (documented in docs/configuration.md).

Read as module attributes at the moment of use (``conf.VOICE_FETCH_TIMEOUT``), so tests can monkeypatch them.
"""

from __future__ import annotations

from cpaas.core.env import env

# The connector live keys use ("sandbox" until a SIP connector is configured). Test keys always
# use the sandbox network.
VOICE_LIVE_CONNECTOR = env.str("VOICE_LIVE_CONNECTOR", "sandbox")
# The live connector's configuration (a JSON object; for "sip", the trunk: docs/voice.md, "SIP trunks").
VOICE_LIVE_CONNECTOR_CONFIG: dict = env.json("VOICE_LIVE_CONNECTOR_CONFIG", "{}")
# host:port the SIP worker (manage.py sip_worker) listens on for INVITEs from trunks and the SIP
# edge (also read by cpaas/sip_edge/conf.py, which trusts requests from it). Empty: no SIP worker.
SIP_WORKER_ADDRESS = env.str("SIP_WORKER_ADDRESS", "").strip()
# host:port of the SIP edge (Kamailio) that reaches platform SIP endpoints (sip:user@domain).
SIP_EDGE_ADDRESS = env.str("SIP_EDGE_ADDRESS", "").strip()
# How many times faster than real time the sandbox network plays calls out (1 = real time).
VOICE_SANDBOX_SPEED = env.float("VOICE_SANDBOX_SPEED", 1.0)
# Call-control documents: fetch timeout (seconds) and the largest document accepted (bytes).
VOICE_FETCH_TIMEOUT = env.float("VOICE_FETCH_TIMEOUT", 5.0)
VOICE_MAX_DOCUMENT_BYTES = env.int("VOICE_MAX_DOCUMENT_BYTES", 64 * 1024)
# Documents one call may fetch before it is stopped (a Redirect loop must end).
VOICE_MAX_FETCHES_PER_CALL = env.int("VOICE_MAX_FETCHES_PER_CALL", 50)
# Tenant URLs go through the egress (cpaas/core/egress); its allow-list (EGRESS_ALLOWED_CIDRS)
# is the only exemption. Requests in flight at once per tenant origin (each on a kept-alive
# connection of the egress client's pool).
VOICE_FETCH_CONNECTIONS_PER_ORIGIN = env.int("VOICE_FETCH_CONNECTIONS_PER_ORIGIN", 16)
# Recordings: a Django storage class (django-storages compatible) and its options as JSON.
VOICE_RECORDINGS_STORAGE = env.str(
    "VOICE_RECORDINGS_STORAGE", "django.core.files.storage.FileSystemStorage"
)
VOICE_RECORDINGS_STORAGE_OPTIONS: dict = env.json("VOICE_RECORDINGS_STORAGE_OPTIONS", "{}")
# Threads the engine uses for reads beside its event loop, and group-commit runner threads for
# its writes. Few threads on purpose: they share one GIL with the loop, and more threads made
# the call-setup tail longer in bench/voice.py, not shorter.
VOICE_ENGINE_DB_THREADS = env.int("VOICE_ENGINE_DB_THREADS", 2)
VOICE_ENGINE_COMMIT_THREADS = env.int("VOICE_ENGINE_COMMIT_THREADS", 1)
# A claimed call not final after its ring time + time limit + this margin is failed by the sweeper.
VOICE_SWEEP_MARGIN_SECONDS = env.int("VOICE_SWEEP_MARGIN_SECONDS", 300)
# Every engine renews its lease (cpaas/voice/lease.py) this often; a call whose engine's lease is
# older than VOICE_ENGINE_LEASE_SECONDS is failed (`engine_lost`) by the sweeper, which runs every
# VOICE_SWEEP_SECONDS: a dead engine's calls end within lease + sweep interval (75 s by default).
VOICE_ENGINE_HEARTBEAT_SECONDS = env.float("VOICE_ENGINE_HEARTBEAT_SECONDS", 10.0)
VOICE_ENGINE_LEASE_SECONDS = env.int("VOICE_ENGINE_LEASE_SECONDS", 45)
VOICE_SWEEP_SECONDS = env.float("VOICE_SWEEP_SECONDS", 30.0)
# How often an engine looks in the database for controls (hang up, redirect) waiting for its calls:
# the one path controls take, on the embedded default and in production alike.
VOICE_CONTROL_POLL_SECONDS = env.float("VOICE_CONTROL_POLL_SECONDS", 0.5)
# A queued call not claimed within this many seconds is enqueued again.
VOICE_REQUEUE_AFTER_SECONDS = env.int("VOICE_REQUEUE_AFTER_SECONDS", 60)
