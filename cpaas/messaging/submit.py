"""Stage ``dispatch → submit``: hand claimed messages to their connectors, journaling each step.

For every connector's group: journal ``submitting|<connector>`` in Redis, submit the batch, then
journal ``submitted|<connector>|<carrier id>`` for each accepted message. The journal is what the
sweeper reads after a crash (sweep.py): after ``submitted`` it settles without resubmitting; after
``submitting`` the outcome is unknown, so that connector never gets the message again.
A carrier's refusal is an outcome here, never an exception (a message may fall over to the next
route; docs/architecture.md).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from cpaas.carriers.base import CarrierError, OutboundSms, SubmitResult
from cpaas.core import metrics
from cpaas.messaging import conf, encoding, infra
from cpaas.messaging.models import Message
from cpaas.messaging.route import connector_for, route_candidates

log = logging.getLogger(__name__)


@dataclass
class Submitted:
    """What became of a batch of claimed messages (message id → …)."""

    accepted: dict[str, tuple[str, str]] = field(default_factory=dict)  # (connector, carrier id)
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)  # (error code, message)
    retry_later: list[Message] = field(default_factory=list)  # every route down: the lease decides


def _outbound(message: Message) -> OutboundSms:
    info = encoding.segment(message.body)
    return OutboundSms(message_id=message.id, to=message.to, sender=message.sender, parts=info.parts,
                       encoding=info.encoding, validity_seconds=message.validity_period)


def _as_carrier_error(exc: Exception) -> CarrierError:
    if isinstance(exc, CarrierError):
        return exc
    return CarrierError(str(exc) or exc.__class__.__name__, code="carrier_unavailable")


def submit_claimed(messages: list[Message]) -> Submitted:
    """Route and submit claimed (``sending``) messages, falling over to the next route where a
    carrier refuses; nothing is written to the database here (settle.py does)."""
    pending = list(messages)
    skipped: dict[str, set[str]] = defaultdict(set)  # down connectors, this attempt only
    failed: dict[str, tuple[str, str]] = {}
    accepted: dict[str, tuple[str, str]] = {}
    retry_later: list[Message] = []
    last_error: dict[str, tuple[str, str]] = {}
    while pending:
        groups: dict[str, list[Message]] = defaultdict(list)
        for message in pending:
            choice = next((name for name in route_candidates(message)
                           if name not in message.tried_connectors and name not in skipped[message.id]), None)
            if choice is None:
                if message.id in failed:
                    continue
                if skipped[message.id]:
                    retry_later.append(message)
                elif message.id in last_error:
                    failed[message.id] = last_error[message.id]
                else:
                    failed[message.id] = ("no_route", "No carrier route is available for this destination.")
                continue
            groups[choice].append(message)
        pending = []
        for name, group in groups.items():
            connector = connector_for(name)
            if connector is None:
                for message in group:
                    skipped[message.id].add(name)
                pending.extend(group)
                continue
            infra.journal_write({m.id: f"submitting|{name}" for m in group}, conf.JOURNAL_TTL_SECONDS)
            try:
                results = connector.submit([_outbound(message) for message in group])
            except Exception as exc:  # the whole connector is unusable: nothing was submitted
                log.warning("connector %s failed a batch: %s", name, exc)
                results = [SubmitResult(m.id, error=_as_carrier_error(exc)) for m in group]
            journal = {}
            for message, result in zip(group, results, strict=True):
                if result.accepted:
                    accepted[message.id] = (name, result.carrier_message_id)
                    journal[message.id] = f"submitted|{name}|{result.carrier_message_id}"
                elif result.error.submitted:
                    message.tried_connectors = [*message.tried_connectors, name]
                    last_error[message.id] = (result.error.code, str(result.error)[:300])
                    pending.append(message)
                elif result.error.permanent:
                    message.tried_connectors = [*message.tried_connectors, name]
                    failed[message.id] = (result.error.code, str(result.error)[:300])
                    if len(route_candidates(message)) > len(message.tried_connectors):
                        failed.pop(message.id)  # another route may take it
                        pending.append(message)
                else:
                    skipped[message.id].add(name)
                    pending.append(message)
            infra.journal_write(journal, conf.JOURNAL_TTL_SECONDS)
    metrics.count_sms_submitted(accepted, failed)
    return Submitted(accepted, failed, retry_later)
