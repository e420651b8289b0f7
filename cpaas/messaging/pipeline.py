"""The worker side of SMS: claim queued messages in batches, route, submit, apply receipts.

Crash safety, in order of events for one batch:
1. claim: one conditional UPDATE moves up to N rows ``queued → sending`` with a lease;
2. journal ``submitting|<connector>`` in Redis, then submit the batch to the connector;
3. journal ``submitted|<connector>|<carrier id>`` for every accepted message;
4. one transaction: ``sending → sent|failed``, events, usage, status callbacks.
A worker killed anywhere leaves ``sending`` rows whose lease runs out; the sweeper reads the
journal: after 3 it finishes step 4 with the recorded carrier id (no resubmit); after 2 only the
outcome is unknown, so that connector is marked tried and never gets the message again; before 2
nothing left the building and the message is simply submitted again.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

import billing
import webhooks
from cpaas.carriers import registry
from cpaas.carriers.base import DeliveryReceipt, InboundSms, OutboundSms, SubmitResult
from cpaas.core.db import pg_cursor
from cpaas.core.errors import ApiError
from cpaas.messaging import conf, encoding, infra, pricing
from cpaas.messaging.models import (
    Connector,
    Direction,
    Message,
    Mode,
    OptOut,
    PhoneNumber,
    ReceiptOrphan,
    Route,
    SmsSettings,
    Status,
    StatusCallback,
)
from cpaas.messaging.numbers import parse_number
from cpaas.messaging.states import TIMESTAMP, allowed_from, can_move
from cpaas.tenants.models import App

log = logging.getLogger(__name__)

SANDBOX = "sandbox"
EVENTED = {Status.QUEUED, Status.SENT, Status.DELIVERED, Status.UNDELIVERED, Status.FAILED,
           Status.CANCELED, Status.RECEIVED}

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "退订"}
START_WORDS = {"START", "UNSTOP", "YES"}
HELP_WORDS = {"HELP", "INFO"}


# --- events ------------------------------------------------------------------------------------

def event_data(message: Message) -> dict:
    at = getattr(message, TIMESTAMP[message.status], None) or timezone.now()
    return {
        "id": message.id, "status": message.status, "sequence": message.sequence,
        "direction": message.direction, "to": message.to, "from": message.sender,
        "body": message.body, "segments": message.segments, "encoding": message.encoding,
        "country": message.country, "reference": message.reference or None,
        "error_code": message.error_code or None, "error_message": message.error_message or None,
        "timestamp": at.isoformat(),
    }


class Earlier(NamedTuple):
    """A message's event as of an earlier status in this transaction (``message.sent`` of a
    message its held receipt moves on before the commit): the event's data, taken then."""

    message: Message
    data: dict

    @staticmethod
    def of(message: Message) -> Earlier:
        return Earlier(message, event_data(message))


def _announce(messages: Iterable[Message | Earlier], apps: dict[str, App] | None = None) -> None:
    """Publish each message's current status (inside the caller's transaction): one
    ``webhooks.publish_many`` per app and mode, so a batch costs a fixed number of queries."""
    items = [item if isinstance(item, Earlier) else Earlier(item, event_data(item))
             for item in messages if isinstance(item, Earlier) or item.status in EVENTED]
    if not items:
        return
    apps = apps or App.objects.in_bulk({item.message.app_id for item in items})
    groups: dict[tuple[str, bool], list[tuple[str, dict, str]]] = defaultdict(list)
    callbacks = []
    for message, data in items:
        event_type = f"message.{data['status']}"
        groups[(message.app_id, message.mode == Mode.LIVE)].append(
            (event_type, data, f"{message.id}:{data['status']}"))
        if message.status_callback:
            callbacks.append(StatusCallback(
                app_id=message.app_id, message_id=message.id, url=message.status_callback,
                payload={"id": f"{message.id}.{data['sequence']}", "type": event_type,
                         "created": data["timestamp"], "data": data}))
    for (app_id, livemode), events in groups.items():
        webhooks.publish_many(apps[app_id], events, livemode=livemode, returning=False)
    if callbacks:
        StatusCallback.objects.bulk_create(callbacks)
        transaction.on_commit(kick_callbacks)


def transition(message: Message, new: str, **fields) -> bool:
    """Move one message to ``new`` if the table allows it from its current status; publish.

    Returns False (and changes nothing) when the message is no longer in an allowed status.
    """
    now = timezone.now()
    values = {"status": new, TIMESTAMP[new]: now, "sequence": F("sequence") + 1, **fields}
    with transaction.atomic():
        moved = Message.objects.filter(pk=message.pk, status__in=allowed_from(new)).update(**values)
        if not moved:
            message.refresh_from_db(fields=["status"])
            return False
        message.refresh_from_db()
        _announce([message])
    return True


# --- routing -----------------------------------------------------------------------------------

_routes_cache: tuple[float, list[Route], dict[str, Connector]] | None = None


def _routing_table() -> tuple[list[Route], dict[str, Connector]]:
    global _routes_cache
    if _routes_cache is None or time.monotonic() - _routes_cache[0] > 5:
        connectors = {row.id: row for row in Connector.objects.filter(enabled=True)}
        routes = list(Route.objects.filter(connector_id__in=list(connectors)))
        _routes_cache = (time.monotonic(), routes, connectors)
    return _routes_cache[1], _routes_cache[2]


def routing_reset() -> None:
    global _routes_cache
    _routes_cache = None


def route_candidates(message: Message) -> list[str]:
    """Connector names for this message, best first. Test mode always stays in the sandbox; live
    traffic never reaches it (no route, and no sandbox fallback: the message fails ``no_route``)."""
    if message.mode == Mode.TEST:
        return [SANDBOX]
    routes, _ = _routing_table()
    matching = []
    for route in routes:
        if route.app_id not in (None, message.app_id) or route.connector_id == SANDBOX:
            continue
        if route.prefix and not message.to.startswith(route.prefix):
            continue
        if route.country and route.country != message.country:
            continue
        specificity = (0 if route.app_id else 1, -len(route.prefix), 0 if route.country else 1)
        matching.append((specificity, route.priority, route.connector_id))
    names: list[str] = []
    for _, _, name in sorted(matching):
        if name not in names:
            names.append(name)
    if not names and conf.FALLBACK_CONNECTOR and conf.FALLBACK_CONNECTOR != SANDBOX:
        names.append(conf.FALLBACK_CONNECTOR)
    return names


_sink: MessagingSink | None = None


def connector_for(name: str):
    if name == SANDBOX:
        _, connectors = _routing_table()
        row = connectors.get(SANDBOX)
        config = row.config if row else {}
        return registry.sms_connector(SANDBOX, "sandbox", config, row.throughput if row else 1000, sink())
    _, connectors = _routing_table()
    row = connectors.get(name)
    if row is None:
        return None
    return registry.sms_connector(row.id, row.kind, row.config, row.throughput, sink(), row.credentials)


# --- dispatch ----------------------------------------------------------------------------------

# ``= ANY(ARRAY(subquery))``: the locking subquery runs once as an InitPlan whatever the
# statistics say. With ``IN (subquery)``, fresh statistics (few queued rows) made the planner pick
# a nested-loop semi join that re-ran the LIMIT … FOR UPDATE for every queued row: 3 ms of
# database CPU per message and a fifth of the throughput.
_CLAIM = (f"UPDATE {Message._meta.db_table} SET status = %s, sending_at = %s, lease_until = %s, "  # noqa: S608
          f"attempts = attempts + 1, sequence = sequence + 1 WHERE id = ANY(ARRAY(SELECT id FROM "
          f"{Message._meta.db_table} WHERE status = %s ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)) "
          f"AND status = %s RETURNING *")


def claim_queued(limit: int) -> list[Message]:
    """Move up to ``limit`` queued messages to ``sending`` (skip rows another worker holds).

    On PostgreSQL one statement (``UPDATE … WHERE id = ANY(ARRAY(SELECT … FOR UPDATE SKIP LOCKED))
    RETURNING *``) in autocommit: one round trip instead of a transaction of three.
    """
    now = timezone.now()
    lease = now + timedelta(seconds=conf.LEASE_SECONDS)
    claimed = list(Message.objects.raw(_CLAIM, [Status.SENDING, now, lease, Status.QUEUED, limit,
                                                Status.QUEUED]))
    claimed.sort(key=lambda message: message.id)
    return claimed


def _outbound(message: Message) -> OutboundSms:
    info = encoding.segment(message.body)
    return OutboundSms(message_id=message.id, to=message.to, sender=message.sender, parts=info.parts,
                       encoding=info.encoding, validity_seconds=message.validity_period)


def submit_claimed(messages: list[Message]) -> dict[str, int]:
    """Route, submit and settle claimed (``sending``) messages. Returns counts by outcome."""
    counts: dict[str, int] = defaultdict(int)
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
    receipts = sink().take(accepted.values())
    try:
        counts.update(settle(messages, accepted=accepted, failed=failed, retry_later=retry_later,
                             receipts=receipts))
    finally:
        sink().settled(accepted.values())
    return counts


def _as_carrier_error(exc: Exception):
    from cpaas.carriers.base import CarrierError

    if isinstance(exc, CarrierError):
        return exc
    return CarrierError(str(exc) or exc.__class__.__name__, code="carrier_unavailable")


def settle(messages: list[Message], *, accepted: dict[str, tuple[str, str]],
           failed: dict[str, tuple[str, str]], retry_later: list[Message],
           receipts: Iterable[DeliveryReceipt] = ()) -> dict[str, int]:
    """One transaction: ``sending → sent|failed``, events, usage; unknown retries keep their lease.

    ``receipts`` that arrived before this settle (held by the sink, or read back from the receipt
    journal by the sweeper) move their message on to ``delivered|undelivered`` in the same
    transaction, both events published in order (decision 0410).
    """
    now = timezone.now()
    by_id = {message.id: message for message in messages}
    early = {(receipt.connector, receipt.carrier_message_id): receipt for receipt in receipts}
    counts = {"sent": 0, "failed": 0, "retry": 0, "receipts": 0}
    announced: list[Message | Earlier] = []
    used: set[tuple[str, str]] = set()  # the receipts applied here
    with transaction.atomic():
        rows = [by_id[pk] for pk in _lock_sending(list(by_id))]
        changed, sent_rows = [], []
        for row in rows:
            tried = by_id[row.id].tried_connectors
            if row.id in accepted:
                name, carrier_id = accepted[row.id]
                row.status, row.sent_at, row.connector, row.carrier_message_id = Status.SENT, now, name, carrier_id
                row.tried_connectors = [*tried, name] if name not in tried else tried
                row.sequence += 1
                row.lease_until = None
                sent_rows.append(row)
                counts["sent"] += 1
                receipt = early.get((name, carrier_id))
                if receipt is not None and can_move(Status.SENT, receipt.status):
                    announced.append(Earlier.of(row))  # message.sent, then the receipt's event
                    _apply_receipt(row, receipt, now)
                    used.add((name, carrier_id))
                    counts["receipts"] += 1
            elif row.id in failed:
                row.status, row.failed_at = Status.FAILED, now
                row.error_code, row.error_message = failed[row.id]
                row.tried_connectors = tried
                row.sequence += 1
                row.lease_until = None
                counts["failed"] += 1
            else:
                backoff = min(600, 5 * 2 ** min(row.attempts, 7))
                row.lease_until = now + timedelta(seconds=backoff)
                row.tried_connectors = tried
                counts["retry"] += 1
            changed.append(row)
            announced.append(row)
        pricing.price_rows(sent_rows)
        rows_update(changed, ["status", "sent_at", "failed_at", "delivered_at", "undelivered_at", "connector",
                              "carrier_message_id", "tried_connectors", "sequence", "lease_until", "error_code",
                              "error_message", "price", "currency"])
        apps = App.objects.in_bulk({row.app_id for row in changed})
        _announce(announced, apps)  # retries stay ``sending``: not an evented status
        with billing.usage_batch():  # one COPY for the whole batch, inside this transaction
            for row in sent_rows:
                billing.record_usage(apps[row.app_id], "sms_segments", row.segments,
                                     dimensions={"country": row.country, "direction": "outbound"},
                                     occurred_at=now, idempotency_key=f"sms:{row.id}", mode=row.mode)
        _adopt_orphans(sent_rows)
        # Money: a sent message keeps what was reserved for it, a failed one gives it back.
        holds = [(row.tenant_id, row.app_id, row.id, None if row.status != Status.FAILED else 0)
                 for row in changed if row.mode == Mode.LIVE and row.lease_until is None]
        if holds:
            transaction.on_commit(lambda: billing.spend_settle(holds))
        if early:
            applied = [key for key in early if key in used]
            unused = [receipt for key, receipt in early.items() if key not in used]
            transaction.on_commit(lambda: infra.receipts_journal_delete(applied))
            # Their message was no longer ``sending`` (the sweeper settled it meanwhile) or the
            # move was not allowed here: the database path decides, after this commit.
            transaction.on_commit(lambda: sink().release(unused))
    return counts


def _lock_sending(ids: list[str]) -> list[str]:
    """Lock these messages that are still ``sending``; their ids, in id order.

    The caller's objects are the claim's own (fresh: nothing else writes a ``sending`` row inside
    its lease), so only the lock and the status check go to the database, not the rows.
    """
    with pg_cursor() as cursor:  # server-side binding: the ids go as one array
        cursor.execute(f"SELECT id FROM {Message._meta.db_table} WHERE id = ANY(%s) "  # noqa: S608
                       "AND status = %s ORDER BY id FOR UPDATE", [ids, Status.SENDING])
        return [row[0] for row in cursor.fetchall()]


def _apply_receipt(row: Message, receipt: DeliveryReceipt, now) -> None:
    """``sent → delivered|undelivered`` in memory (the caller checked the move and writes the row)."""
    row.status = receipt.status
    setattr(row, TIMESTAMP[receipt.status], now)
    if receipt.status == Status.UNDELIVERED:
        row.error_code = receipt.error_code or "undelivered"
        row.error_message = f"The carrier could not deliver the message ({row.error_code})."
    row.sequence += 1


_CASTS = {"DecimalField": "numeric", "CharField": "text", "TextField": "text", "DateTimeField": "timestamptz",
          "JSONField": "jsonb", "PositiveIntegerField": "integer", "PositiveSmallIntegerField": "integer"}
_UPDATES: dict[tuple[str, ...], tuple[str, list[str]]] = {}


def rows_update(rows: list[Message], names: list[str]) -> None:
    """Write ``names`` of many locked rows in one statement.

    The rows travel as one JSON parameter read by ``jsonb_to_recordset``: the SQL text stays the
    same for any batch, so psycopg parses it once; a VALUES list of 200 rows by 15 parameters was
    re-split and re-adapted on every call (a tenth of a worker's CPU).
    """
    if not rows:
        return
    key = tuple(names)
    if key not in _UPDATES:
        fields = [Message._meta.get_field(name) for name in names]
        quote = connection.ops.quote_name
        columns = ", ".join(["id text", *(f"{quote(f.column)} {_CASTS[f.get_internal_type()]}" for f in fields)])
        assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in fields)
        # Identifiers come from the model's own metadata; the rows are one bound parameter.
        sql = (f"UPDATE {Message._meta.db_table} AS m SET {assignments} "  # noqa: S608
               f"FROM jsonb_to_recordset(%s::jsonb) AS v({columns}) WHERE m.id = v.id")
        _UPDATES[key] = (sql, [f.attname for f in fields])
    sql, attnames = _UPDATES[key]
    payload = json.dumps([{"id": row.pk, **{name: getattr(row, name) for name in attnames}} for row in rows],
                         default=infra.json_value)
    with connection.cursor() as cursor:
        cursor.execute(sql, [payload])


def dispatch_batch(limit: int | None = None) -> dict[str, int]:
    """Claim one batch of queued messages and submit it. Returns counts (claimed, sent, failed, ...)."""
    claimed = claim_queued(limit or conf.DISPATCH_BATCH)
    counts = {"claimed": len(claimed)}
    if claimed:
        counts.update(submit_claimed(claimed))
    sink().flush()
    return counts


# --- receipts ----------------------------------------------------------------------------------

def receipts_apply(receipts: list[DeliveryReceipt]) -> dict[str, int]:
    """Apply delivery receipts; unknown carrier ids wait as orphans; late or doubled ones do
    nothing."""
    counts = {"applied": 0, "ignored": 0, "orphaned": 0}
    if not receipts:
        return counts
    now = timezone.now()
    latest: dict[tuple[str, str], DeliveryReceipt] = {}
    for receipt in receipts:
        latest[(receipt.connector, receipt.carrier_message_id)] = receipt
    with transaction.atomic():
        rows = _lock_by_carrier_id(list(latest))
        found = {(row.connector, row.carrier_message_id): row for row in rows}
        changed = []
        for key, receipt in latest.items():
            row = found.get(key)
            if row is None:
                continue
            if not can_move(row.status, receipt.status):
                counts["ignored"] += 1
                continue
            _apply_receipt(row, receipt, now)
            changed.append(row)
        rows_update(changed, ["status", "delivered_at", "undelivered_at", "error_code", "error_message",
                              "sequence"])
        counts["applied"] = len(changed)
        _announce(changed)
        missing = [receipt for key, receipt in latest.items() if key not in found]
        orphans = [ReceiptOrphan(connector=receipt.connector, carrier_message_id=receipt.carrier_message_id,
                                 status=receipt.status, error_code=receipt.error_code) for receipt in missing]
        if orphans:
            ReceiptOrphan.objects.bulk_create(orphans, ignore_conflicts=True)
            counts["orphaned"] = len(orphans)
    return counts


def _lock_by_carrier_id(keys: list[tuple[str, str]]) -> list[Message]:
    """Lock and load the messages with these (connector, carrier id) pairs.

    On PostgreSQL the pairs are one JSON parameter joined to the (connector, carrier id) index;
    an ``IN`` list of more than 100 literals is past what the planner matches to that partial
    index, and a flush of a few hundred receipts scanned the whole table.
    """
    table = Message._meta.db_table
    return list(Message.objects.raw(
        f"SELECT m.* FROM {table} m WHERE (m.connector, m.carrier_message_id) IN "  # noqa: S608
        "(SELECT k->>0, k->>1 FROM jsonb_array_elements(%s::jsonb) AS k) AND m.carrier_message_id <> '' "
        "ORDER BY m.id FOR UPDATE OF m", [json.dumps(keys)]))


def _adopt_orphans(sent_rows: list[Message]) -> None:
    """Receipts that outran their submit's status update: apply them now (same transaction)."""
    if not sent_rows:
        return
    # One statement of constant text that finds and takes them (by the unique index).
    keys = json.dumps([[row.connector, row.carrier_message_id] for row in sent_rows])
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {ReceiptOrphan._meta.db_table} WHERE (connector, carrier_message_id) IN "  # noqa: S608
                       "(SELECT k->>0, k->>1 FROM jsonb_array_elements(%s::jsonb) AS k) "
                       "RETURNING connector, carrier_message_id, status, error_code", [keys])
        found = cursor.fetchall()
    if found:
        receipts_apply([DeliveryReceipt(*row) for row in found])


def orphans_adopt(limit: int = 1000) -> int:
    """Receipts parked as orphans whose message now has its carrier id: apply them.

    A receipt can land between a settle's own orphan check and its commit; this sweep (run by the
    flusher every second and by the sweeper) catches those. Orphans nobody claims in 7 days go.
    """
    # Only the adoptable ones, found through the (connector, carrier id) index: a filter on the
    # carrier id alone scanned the whole index every second, and a table of unclaimable
    # orphans (receipts for other platforms' ids) would have hidden newer ones behind them.
    ready = list(ReceiptOrphan.objects.raw(
        f"SELECT o.* FROM {ReceiptOrphan._meta.db_table} o CROSS JOIN LATERAL (SELECT 1 FROM "  # noqa: S608
        f"{Message._meta.db_table} m WHERE m.connector = o.connector AND m.carrier_message_id = "
        "o.carrier_message_id AND m.carrier_message_id <> '' LIMIT 1) AS known ORDER BY o.id LIMIT %s",
        [limit]))
    if ready:
        with transaction.atomic():
            taken = ReceiptOrphan.objects.filter(pk__in=[o.pk for o in ready]).delete()[0]
            if taken:
                receipts_apply([DeliveryReceipt(o.connector, o.carrier_message_id, o.status, o.error_code)
                                for o in ready])
    ReceiptOrphan.objects.filter(received_at__lt=timezone.now() - timedelta(days=7)).delete()
    return len(ready)


# --- inbound -----------------------------------------------------------------------------------

def inbound_receive(inbound: InboundSms) -> Message | None:
    """A message to one of our numbers: store it, handle STOP/START/HELP, publish message.received."""
    try:
        recipient = parse_number(inbound.recipient if inbound.recipient.startswith("+")
                                 else f"+{inbound.recipient}", param="to").e164
    except Exception:
        recipient = inbound.recipient
    number = PhoneNumber.objects.filter(number=recipient, inbound_enabled=True).first()
    if number is None:
        log.info("inbound message to an unknown number %s dropped", recipient)
        return None
    try:
        sender = parse_number(inbound.sender if inbound.sender.startswith("+") else f"+{inbound.sender}",
                              param="from")
        sender_e164, country = sender.e164, sender.country
    except Exception:
        sender_e164, country = inbound.sender[:20], ""
    if inbound.carrier_message_id and Message.objects.filter(
            app_id=number.app_id, direction=Direction.INBOUND, connector=inbound.connector,
            carrier_message_id=inbound.carrier_message_id).exists():
        return None  # a doubled MO
    info = encoding.segment(inbound.body or "")
    now = inbound.received_at or timezone.now()
    keyword = (inbound.body or "").strip().upper()
    with transaction.atomic():
        message = Message.objects.create(
            tenant_id=number.tenant_id, app_id=number.app_id, direction=Direction.INBOUND, mode=number.mode,
            to=number.number, sender=sender_e164, country=country, body=inbound.body or "",
            encoding=info.encoding, segments=info.segments, status=Status.RECEIVED, received_at=now,
            created_at=now, connector=inbound.connector, carrier_message_id=inbound.carrier_message_id)
        _announce([message])
        if keyword in STOP_WORDS:
            OptOut.objects.get_or_create(app_id=number.app_id, number=sender_e164, defaults={"keyword": keyword})
        elif keyword in START_WORDS:
            OptOut.objects.filter(app_id=number.app_id, number=sender_e164).delete()
        elif keyword in HELP_WORDS:
            help_text = SmsSettings.objects.filter(app_id=number.app_id).values_list("help_text", flat=True).first()
            if help_text:
                reply = encoding.segment(help_text)
                row = Message(
                    tenant_id=number.tenant_id, app_id=number.app_id, mode=number.mode, to=sender_e164,
                    sender=number.number, country=country, body=help_text, encoding=reply.encoding,
                    segments=reply.segments, status=Status.QUEUED, queued_at=now, created_at=now)
                if _help_reply_paid(row):
                    row.save(force_insert=True)
                    from cpaas.messaging.services import kick_dispatch

                    transaction.on_commit(kick_dispatch)
        billing.record_usage(App.objects.get(pk=number.app_id), "sms_segments", info.segments,
                             dimensions={"country": country, "direction": "inbound"},
                             occurred_at=now, idempotency_key=f"sms:{message.id}", mode=number.mode)
    return message


def _help_reply_paid(reply: Message) -> bool:
    """Money before traffic for the HELP auto-reply, a live send anyone can trigger by texting
    HELP: reserved like an API send (settled by the dispatcher); not sent when refused or when
    the money check cannot be made (fail closed, logged)."""
    if reply.mode != Mode.LIVE:
        return True
    hold = billing.Hold(reply.id, "sms_segments", reply.segments,
                        {"country": reply.country, "direction": "outbound"})
    try:
        problem = billing.spend_reserve(tenant_id=reply.tenant_id, app_id=reply.app_id, mode=reply.mode,
                                        holds=[hold])[0]
    except ApiError as exc:
        problem = exc
    if problem is not None:
        log.warning("HELP reply not sent: %s", problem.message, extra={"app_id": reply.app_id})
        return False
    return True


def inbound_join(inbound: InboundSms) -> InboundSms | None:
    """A multipart MO becomes one inbound message when its last part arrives (None until then).

    Parts are keyed by connector, sender, recipient, reference and count, and wait at most
    ``SMS_CONCAT_TTL_SECONDS`` for the others (then they are dropped, as handsets do).
    """
    if inbound.part is None or inbound.part[1] <= 1:
        return inbound
    reference, total, index = inbound.part
    key = f"{inbound.connector}:{inbound.sender}:{inbound.recipient}:{reference}:{total}"
    parts = infra.concat_collect(key, index, total, inbound.body or "", conf.CONCAT_TTL_SECONDS)
    if parts is None:
        return None
    return replace(inbound, body="".join(parts), part=None)


# --- the sink connectors push into ------------------------------------------------------------

class MessagingSink:
    """Buffers receipts and inbound messages from connectors and applies them in batches.

    The sandbox pushes during ``submit`` and the dispatcher flushes right after settling; the SMPP
    connector pushes from its bind thread and a flusher thread applies every 50 ms.

    A receipt for a message this process submitted and has not settled yet (the connector says
    ``submitted`` on the carrier's answer, before the receipt can follow it) is *held*: journaled
    in Redis, kept in memory, and taken by that settle, which writes ``sent`` and ``delivered`` in
    one transaction (decision 0410). At 1,000 messages/s almost every receipt outruns its settle;
    parking each as a ReceiptOrphan row and adopting it cost a third of a worker's CPU.
    """

    # A receipt that outruns its own submit's status update and is not held (the connector did not
    # announce the carrier id, or another process submitted it) is parked at once as a
    # ReceiptOrphan row and adopted when the submit settles: the SMSC has had its deliver_sm_resp,
    # so a receipt held only in memory would die with the process (a 2 s in-memory hold lost
    # receipts when a worker was killed: tests/messaging/test_worker_e2e.py).

    HOLD_SECONDS = 30.0  # a settle that never comes (an error, a crash) releases its receipts

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.receipts: list[DeliveryReceipt] = []
        self.inbounds: list[InboundSms] = []
        # (connector, carrier id) submitted by this process, not settled yet -> monotonic time
        self.expected: dict[tuple[str, str], float] = {}
        self.held: dict[tuple[str, str], DeliveryReceipt] = {}
        # journaled receipts not announced yet while a submit was in flight: one more flush
        self.waiting: list[DeliveryReceipt] = []
        # journaled receipts whose settle has committed: the database path on the next flush
        self.released: list[DeliveryReceipt] = []
        self._last_expiry = time.monotonic()
        self._flusher: threading.Thread | None = None

    def submitted(self, connector: str, carrier_message_id: str) -> None:
        """The carrier accepted a message under this id: its receipt will wait for our settle."""
        if carrier_message_id:
            with self.lock:
                self.expected[(connector, carrier_message_id)] = time.monotonic()

    def receipt(self, receipt: DeliveryReceipt) -> None:
        if receipt.delay_seconds:
            from cpaas.messaging.tasks import apply_receipt

            apply_receipt.apply_async(args=[receipt.connector, receipt.carrier_message_id, receipt.status,
                                            receipt.error_code], countdown=receipt.delay_seconds)
            return
        with self.lock:
            self.receipts.append(receipt)

    def inbound(self, message: InboundSms) -> None:
        with self.lock:
            self.inbounds.append(message)

    def take(self, keys: Iterable[tuple[str, str]]) -> list[DeliveryReceipt]:
        """The receipts for these (connector, carrier id) that arrived before their settle. Each is
        journaled in Redis. The keys stay expected until :meth:`settled`: a receipt arriving while
        the settle runs is held for the database path after its commit, not parked as an orphan."""
        keys = set(keys)
        with self.lock:
            taken = []
            for key in keys:
                held = self.held.pop(key, None)
                if held is not None:
                    taken.append(held)
            if self.waiting:  # journaled already
                keep = []
                for receipt in self.waiting:
                    (taken if (receipt.connector, receipt.carrier_message_id) in keys else keep).append(receipt)
                self.waiting = keep
            fresh = []
            if self.receipts:
                keep = []
                for receipt in self.receipts:
                    (fresh if (receipt.connector, receipt.carrier_message_id) in keys else keep).append(receipt)
                self.receipts = keep
        if fresh:  # not journaled yet: do it before the settle relies on them
            try:
                _journal_receipts(fresh)
            except Exception:  # Redis failed: keep them all here for the database path, lose none
                self.release(taken)
                with self.lock:
                    self.receipts[:0] = fresh
                raise
        return taken + fresh

    def release(self, receipts: list[DeliveryReceipt]) -> None:
        """Journaled receipts for the next flush's database path (a settle that could not use
        them: its message was no longer ``sending``, or the settle did not happen)."""
        if receipts:
            with self.lock:
                self.released.extend(receipts)

    def settled(self, keys: Iterable[tuple[str, str]]) -> None:
        """The settle of these submits has committed (or failed): they are no longer expected, and
        receipts held meanwhile go to the next flush's database path (journaled already).

        Before, a receipt landing between :meth:`take` and the settle's commit found its message
        still ``sending`` and was parked as a ReceiptOrphan row, then adopted: a third of the
        receipts at 1,000 messages/s, each costing an insert, a delete and a second apply."""
        with self.lock:
            for key in keys:
                self.expected.pop(key, None)
                held = self.held.pop(key, None)
                if held is not None:
                    self.released.append(held)

    def flush(self) -> None:
        with self.lock:
            receipts, self.receipts = self.receipts, []
            inbounds, self.inbounds = self.inbounds, []
            waited, self.waiting = self.waiting, []
            hold, wait, apply = [], [], []
            journaled, self.released = self.released, []
            for receipt in waited:  # their second look: announced by now, or the database path
                key = (receipt.connector, receipt.carrier_message_id)
                (hold if key in self.expected else journaled).append(receipt)
            for receipt in receipts:
                key = (receipt.connector, receipt.carrier_message_id)
                if key in self.expected:
                    hold.append(receipt)
                elif self.expected:
                    # A submit of ours is in flight: its answer and this receipt can reach us in
                    # either order, so give the announcement one more flush before parking it.
                    wait.append(receipt)
                else:
                    apply.append(receipt)
            now = time.monotonic()
            if now - self._last_expiry > 1.0:
                self._last_expiry = now
                for key in [k for k, at in self.expected.items() if now - at > self.HOLD_SECONDS]:
                    del self.expected[key]
                    stale = self.held.pop(key, None)
                    if stale is not None:
                        journaled.append(stale)
        if hold or wait:
            try:
                _journal_receipts(hold + wait)  # before holding: a crash after this point loses nothing
            except Exception:  # Redis failed: all of them wait here for the next flush
                with self.lock:
                    self.receipts[:0] = hold + wait + apply
                    self.released[:0] = journaled
                    self.inbounds[:0] = inbounds
                raise
            with self.lock:
                for receipt in hold:
                    key = (receipt.connector, receipt.carrier_message_id)
                    if key in self.expected:
                        self.held[key] = receipt
                    else:  # its settle came meanwhile: the database path (an orphan at worst)
                        journaled.append(receipt)
                self.waiting.extend(wait)
        if apply or journaled:
            try:
                receipts_apply(apply + journaled)  # unknown carrier ids are parked as orphans
            except Exception:  # the database failed: they wait here (journaled) for the next flush
                with self.lock:
                    self.receipts[:0] = apply
                    self.released[:0] = journaled
                    self.inbounds[:0] = inbounds
                raise
        if journaled:  # parked or applied by now: their journal entries are done with
            infra.receipts_journal_delete([(r.connector, r.carrier_message_id) for r in journaled])
        for inbound in inbounds:
            whole = inbound_join(inbound)
            if whole is not None:
                inbound_receive(whole)

    def start_flusher(self, interval: float = 0.05) -> None:
        if self._flusher is not None:
            return

        def run() -> None:
            from django.db import close_old_connections

            last_adopt = time.monotonic()
            while True:
                time.sleep(interval)
                try:
                    self.flush()
                    if time.monotonic() - last_adopt > 1.0:
                        last_adopt = time.monotonic()
                        orphans_adopt()
                except Exception:
                    log.exception("applying receipts failed")
                    close_old_connections()

        self._flusher = threading.Thread(target=run, name="sms-sink-flusher", daemon=True)
        self._flusher.start()
        callback_sender.start()


def _journal_receipts(receipts: list[DeliveryReceipt]) -> None:
    infra.receipts_journal_write([(r.connector, r.carrier_message_id, r.status, r.error_code) for r in receipts],
                                 conf.RECEIPT_JOURNAL_TTL_SECONDS)


def sink() -> MessagingSink:
    global _sink
    if _sink is None:
        _sink = MessagingSink()
    return _sink


# --- sweeper -----------------------------------------------------------------------------------

def sweep(limit: int = 500) -> dict[str, int]:
    """Reconcile ``sending`` messages whose lease ran out (crashed worker, lost task, retry due)."""
    now = timezone.now()
    counts = {"reclaimed": 0, "recovered_sent": 0, "resubmitted": 0, "expired": 0}
    with transaction.atomic():
        ids = list(Message.objects.select_for_update(skip_locked=True)
                   .filter(status=Status.SENDING, lease_until__lt=now).order_by("lease_until")
                   .values_list("id", flat=True)[:limit])
        Message.objects.filter(id__in=ids, status=Status.SENDING, lease_until__lt=now).update(
            lease_until=now + timedelta(seconds=conf.LEASE_SECONDS), attempts=F("attempts") + 1)
    if not ids:
        orphans_adopt()
        return counts
    counts["reclaimed"] = len(ids)
    messages = list(Message.objects.filter(id__in=ids, status=Status.SENDING))
    journal = infra.journal_read([message.id for message in messages])
    accepted, resubmit, expired = {}, [], {}
    for message in messages:
        entry = journal.get(message.id, "")
        parts = entry.split("|")
        if parts[0] == "submitted":
            accepted[message.id] = (parts[1], parts[2])
            continue
        if parts[0] == "submitting" and parts[1] not in message.tried_connectors:
            # Unknown whether that carrier took it: never give it to that carrier again.
            message.tried_connectors = [*message.tried_connectors, parts[1]]
        if message.attempts > 10 or (message.validity_period and message.created_at
                                     + timedelta(seconds=message.validity_period) < now):
            expired[message.id] = ("expired", "The message could not be submitted within its validity.")
            continue
        resubmit.append(message)
    if accepted or expired:
        settled = [m for m in messages if m.id in accepted or m.id in expired]
        journaled = infra.receipts_journal_read(list(accepted.values()))
        receipts = [DeliveryReceipt(connector, carrier_id, status, error)
                    for (connector, carrier_id), (status, error) in journaled.items()]
        settle(settled, accepted=accepted, failed=expired, retry_later=[], receipts=receipts)
    counts["recovered_sent"], counts["expired"] = len(accepted), len(expired)
    if resubmit:
        Message.objects.bulk_update(resubmit, ["tried_connectors"])
        submit_claimed(resubmit)
        counts["resubmitted"] = len(resubmit)
    sink().flush()
    orphans_adopt()
    return counts


def release_scheduled(limit: int = 1000) -> int:
    """``scheduled → queued`` for messages whose send time came; publish message.queued."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(Message.objects.select_for_update(skip_locked=True)
                   .filter(status=Status.SCHEDULED, send_at__lte=now).values_list("id", flat=True)[:limit])
        if not ids:
            return 0
        Message.objects.filter(id__in=ids, status=Status.SCHEDULED).update(
            status=Status.QUEUED, queued_at=now, sequence=F("sequence") + 1)
        _announce(list(Message.objects.filter(id__in=ids, status=Status.QUEUED)))
        from cpaas.messaging.services import kick_dispatch

        transaction.on_commit(kick_dispatch)
    return len(ids)


def _deliver_callbacks() -> None:
    from cpaas.messaging.callbacks import callbacks_deliver

    while True:  # a full batch means there may be more
        counts = callbacks_deliver()
        if counts["delivered"] + counts["failed"] < conf.CALLBACK_BATCH:
            return


# A worker process's thread that posts status callbacks as soon as they are committed (started
# with the sink's flusher). A Celery task per wake-up would wait behind dispatch tasks on the
# ``sms`` queue (seconds at load); this thread is woken directly by the commit that stored them.
# Processes without it (the API, tests) wake the ``sms.deliver_callbacks`` task instead; the beat
# catches retries.
callback_sender = infra.Waker("sms-callbacks", _deliver_callbacks)


def kick_callbacks() -> None:
    if callback_sender.running():
        callback_sender.wake()
        return
    if infra.flag_set_once("cpaas:sms:callbacks:kick", 5):
        from cpaas.messaging.tasks import deliver_callbacks

        deliver_callbacks.apply_async()


def open_binds() -> list[str]:
    """Start every enabled SMPP connector's bind in this process (worker start)."""
    from django.db import close_old_connections

    close_old_connections()
    opened = []
    for row in Connector.objects.filter(enabled=True, kind=Connector.Kind.SMPP):
        connector = connector_for(row.id)
        if connector is not None and hasattr(connector, "start"):
            connector.start()
            opened.append(row.id)
    return opened
