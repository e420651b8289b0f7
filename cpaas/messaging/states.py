"""The one table of allowed status transitions. Status only moves forward.

Every change is a conditional UPDATE ``WHERE status IN allowed_from(new)``, so a late, doubled or
out-of-order receipt matches no row and changes nothing.
"""

from __future__ import annotations

from cpaas.messaging.models import Status

S = Status

TRANSITIONS: dict[str, frozenset[str]] = {
    S.SCHEDULED: frozenset({S.QUEUED, S.CANCELED}),
    S.QUEUED: frozenset({S.SENDING, S.CANCELED, S.FAILED}),
    S.SENDING: frozenset({S.SENT, S.FAILED}),
    # A receipt may outrun the submit's own status update only in the database; once sent, only
    # a final state follows. `delivered` and `undelivered` are final even against each other.
    S.SENT: frozenset({S.DELIVERED, S.UNDELIVERED}),
    S.DELIVERED: frozenset(),
    S.UNDELIVERED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELED: frozenset(),
    S.RECEIVED: frozenset(),
}

FINAL = frozenset(status for status, nexts in TRANSITIONS.items() if not nexts)

# status -> the timestamp column it sets
TIMESTAMP = {status: f"{status}_at" for status in S.values}
TIMESTAMP[S.SCHEDULED] = "created_at"


def can_move(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


def allowed_from(new: str) -> list[str]:
    """The statuses a message may be in to move to ``new``."""
    return [status for status, nexts in TRANSITIONS.items() if new in nexts]
