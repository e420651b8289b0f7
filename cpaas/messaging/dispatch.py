"""Dispatch: ``claim → route → submit → settle`` for one batch of queued messages.

Crash safety, in order of events for one batch (docs/architecture.md, "Lock order and leases"):
1. claim (claim.py): one conditional UPDATE moves up to N rows ``queued → sending`` with a lease;
2. submit (submit.py): journal ``submitting|<connector>`` in Redis, then submit to the connector;
3. journal ``submitted|<connector>|<carrier id>`` for every accepted message;
4. settle (settle.py): one transaction: ``sending → sent|failed``, events, usage, status callbacks.
A worker killed anywhere leaves ``sending`` rows whose lease runs out; the sweeper (sweep.py) reads
the journal: after 3 it finishes step 4 with the recorded carrier id (no resubmit); after 2 only
the outcome is unknown, so that connector is marked tried and never gets the message again; before
2 nothing left the building and the message is simply submitted again.
"""

from __future__ import annotations

from cpaas.messaging import conf
from cpaas.messaging.claim import claim_queued
from cpaas.messaging.models import Message
from cpaas.messaging.settle import settle
from cpaas.messaging.sink import sink
from cpaas.messaging.submit import submit_claimed


def messages_dispatch(messages: list[Message]) -> dict[str, int]:
    """Submit claimed (``sending``) messages and settle them with the receipts that outran the
    settle. Returns counts by outcome (sent, failed, retry, receipts)."""
    outcome = submit_claimed(messages)
    keys = list(outcome.accepted.values())
    receipts = sink().take(keys)
    try:
        return settle(messages, accepted=outcome.accepted, failed=outcome.failed,
                      retry_later=outcome.retry_later, receipts=receipts)
    finally:
        sink().settled(keys)


def dispatch_batch(limit: int | None = None) -> dict[str, int]:
    """Claim one batch of queued messages and dispatch it; then flush this process's sink.
    Returns counts (claimed, sent, failed, retry, receipts)."""
    claimed = claim_queued(limit or conf.DISPATCH_BATCH)
    counts = {"claimed": len(claimed)}
    if claimed:
        counts.update(messages_dispatch(claimed))
    sink().flush()
    return counts
