"""The call state machine: one table of allowed transitions, shared by calls and their legs.

``queued → initiated → ringing → in-progress → completed``, or a final ``busy``, ``no-answer``,
``failed`` or ``canceled`` before the answer. A status only moves along this table; every write
is a conditional UPDATE whose WHERE lists the states the new one may follow (``previous``), so a
late or doubled network event can never move a call back.
"""

from __future__ import annotations

QUEUED = "queued"
INITIATED = "initiated"
RINGING = "ringing"
IN_PROGRESS = "in-progress"
COMPLETED = "completed"
BUSY = "busy"
NO_ANSWER = "no-answer"
FAILED = "failed"
CANCELED = "canceled"

STATUSES = (QUEUED, INITIATED, RINGING, IN_PROGRESS, COMPLETED, BUSY, NO_ANSWER, FAILED, CANCELED)
FINAL = frozenset({COMPLETED, BUSY, NO_ANSWER, FAILED, CANCELED})
LIVE = frozenset({INITIATED, RINGING, IN_PROGRESS})

TRANSITIONS: dict[str, frozenset[str]] = {
    QUEUED: frozenset({INITIATED, FAILED, CANCELED}),
    INITIATED: frozenset({RINGING, IN_PROGRESS, BUSY, NO_ANSWER, FAILED, CANCELED}),
    RINGING: frozenset({IN_PROGRESS, BUSY, NO_ANSWER, FAILED, CANCELED}),
    IN_PROGRESS: frozenset({COMPLETED, FAILED}),
    COMPLETED: frozenset(),
    BUSY: frozenset(),
    NO_ANSWER: frozenset(),
    FAILED: frozenset(),
    CANCELED: frozenset(),
}


def allowed(current: str, new: str) -> bool:
    return new in TRANSITIONS[current]


def previous(new: str) -> frozenset[str]:
    """The states a row may be in for ``new`` to be written (the WHERE of the conditional UPDATE)."""
    return frozenset(state for state, nexts in TRANSITIONS.items() if new in nexts)


# The name of the webhook event each status publishes (final statuses all publish `completed`,
# with the status in the data, as the tenant's status callback expects).
EVENT_FOR_STATUS = {
    INITIATED: "initiated",
    RINGING: "ringing",
    IN_PROGRESS: "answered",
    COMPLETED: "completed",
    BUSY: "completed",
    NO_ANSWER: "completed",
    FAILED: "completed",
    CANCELED: "completed",
}
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
