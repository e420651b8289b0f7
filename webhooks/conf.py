"""Webhook settings, read through ``cpaas.core.env`` with safe defaults (documented in docs/configuration.md).

Read as module attributes at the moment of use (``conf.TOTAL_TIMEOUT``), so tests can monkeypatch them.
"""

from __future__ import annotations

from cpaas.core.env import env

# The keys that encrypt endpoint secrets at rest are the platform keyring's: SECRET_ENCRYPTION_KEYS
# (cpaas/core/crypto.py; WEBHOOK_SECRET_KEYS is still read as its older name).

# The SSRF guard's allow-list, the connect timeout and the keep-alive time are the egress's
# (cpaas/core/egress/conf.py): one setting for every tenant URL.
TOTAL_TIMEOUT = env.float("WEBHOOK_TOTAL_TIMEOUT", 15.0)
MAX_RESPONSE_BYTES = env.int("WEBHOOK_MAX_RESPONSE_BYTES", 64 * 1024)
STORED_RESPONSE_BYTES = 1024

# A claimed delivery is leased for this long; a worker that dies mid-delivery loses the lease
# and the delivery becomes due again (same webhook-id). Must exceed TOTAL_TIMEOUT.
CLAIM_LEASE_SECONDS = env.float("WEBHOOK_CLAIM_LEASE_SECONDS", 60.0)
BATCH_SIZE = env.int("WEBHOOK_BATCH_SIZE", 200)
# Endpoints an app may have per mode: every event is delivered to each, so without a cap one
# message could make the platform send any number of requests (to one victim URL, say).
ENDPOINTS_PER_APP = env.int("WEBHOOK_ENDPOINTS_PER_APP", 50)
MAX_IN_FLIGHT = env.int("WEBHOOK_MAX_IN_FLIGHT", 400)  # per worker process
# Concurrent requests (and pooled connections) per endpoint per worker process.
PER_ENDPOINT_CONCURRENCY = env.int("WEBHOOK_PER_ENDPOINT_CONCURRENCY", 10)
# A dispatcher task stops claiming after this long (then finishes what it has in flight) and
# exits after this long without work.
DISPATCH_RUN_SECONDS = env.float("WEBHOOK_DISPATCH_RUN_SECONDS", 30.0)
DISPATCH_IDLE_EXIT_SECONDS = env.float("WEBHOOK_DISPATCH_IDLE_EXIT_SECONDS", 2.0)
# How long a process trusts its cached list of an app's endpoints when publishing (an endpoint
# created in another process may miss events published in this window; changes made in the
# publishing process are seen at once).
ENDPOINT_CACHE_SECONDS = env.float("WEBHOOK_ENDPOINT_CACHE_SECONDS", 1.0)
# How often beat starts a dispatcher for due retries.
SWEEP_SECONDS = env.float("WEBHOOK_SWEEP_SECONDS", 5.0)

# Circuit breaker: after this many consecutive failures an endpoint's circuit opens for
# BREAKER_OPEN_SECONDS (doubling while probes fail, up to BREAKER_MAX_OPEN_SECONDS).
BREAKER_FAILURES = env.int("WEBHOOK_BREAKER_FAILURES", 5)
BREAKER_OPEN_SECONDS = env.float("WEBHOOK_BREAKER_OPEN_SECONDS", 10.0)
BREAKER_MAX_OPEN_SECONDS = env.float("WEBHOOK_BREAKER_MAX_OPEN_SECONDS", 300.0)

DISABLE_AFTER_DAYS = env.int("WEBHOOK_DISABLE_AFTER_DAYS", 5)
RETENTION_DAYS = env.int("WEBHOOK_RETENTION_DAYS", 90)
# Old secrets keep signing for this long after a rotation; at most MAX_OLD_SECRETS are kept.
ROTATION_OVERLAP_SECONDS = env.int("WEBHOOK_ROTATION_OVERLAP_SECONDS", 24 * 3600)
MAX_OLD_SECRETS = 5
