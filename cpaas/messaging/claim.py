"""Stage ``dispatch → claim``: queued messages become ``sending`` under a lease, in batches.

The claim is the only way a message leaves ``queued`` for a carrier: one conditional UPDATE that
skips rows another worker holds, so two dispatchers never take the same message. The lease
(``conf.LEASE_SECONDS``) is how long the claimer owns the row; past it the sweeper reconciles it
(docs/architecture.md, "Lock order and leases").
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from cpaas.messaging import conf, queries
from cpaas.messaging.models import Message


def claim_queued(limit: int) -> list[Message]:
    """Move up to ``limit`` queued messages to ``sending`` with a lease; the claimed rows, by id.

    One autocommit statement (``UPDATE … WHERE id = ANY(ARRAY(SELECT … FOR UPDATE SKIP LOCKED))
    RETURNING *``): one round trip instead of a transaction of three.
    """
    now = timezone.now()
    return queries.messages_claim(limit, now, now + timedelta(seconds=conf.LEASE_SECONDS))
