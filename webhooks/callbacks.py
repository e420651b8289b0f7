"""Callbacks to one-off URLs: durable, signed like webhooks, retried on the webhooks schedule.

A channel's ``status_callback`` (a call's, a message's) is a URL that comes with the object, not a
subscribed endpoint; it still deserves what endpoints get. :func:`send_callback` records the
callback inside the caller's transaction (so it exists exactly when the state change it reports
does; :func:`send_callbacks` records a batch in one prepared INSERT) and a ``webhooks`` worker delivers it
after commit (the commit kicks a delivery task, coalesced to one per second however many commits
there are):

- claimed in batches by one statement (``UPDATE … WHERE id = ANY(ARRAY(SELECT … FOR UPDATE SKIP
  LOCKED))``) that leases them (``next_attempt_at`` moved past the lease), so two workers never
  send the same row at once and a worker that dies mid-send loses nothing: the row is due again when its lease ends;
- sent concurrently through the egress client (``cpaas/core/egress``: the SSRF guard's checked,
  pinned addresses, keep-alive, no redirects) on the process's long-lived sender loop and pool
  (``sender.get_sender()``), so connections stay warm across batches and tasks;
- outcomes written with one statement per batch;
- signed with Standard Webhooks headers; ``webhook-id`` is the row id and the body is stored, so
  every retry is byte-identical and receivers de-duplicate on ``webhook-id``. That matters most
  for an attempt that failed after the request was written (the connection dropped before the
  answer, a timeout): the receiver may have acted on it, and its retry says it is the same one;
- retried on ``retry.SCHEDULE`` (5 s, 5 min, 30 min, 2 h, …), then ``failed``.

Whose secret signs a callback is the channel's business: each channel registers a function from
app id to its secrets (:func:`register_signer`), so this module never imports a channel. A channel
may also register a :class:`CallbackShape` (another body and signature, such as Twilio's form post
with ``X-Twilio-Signature``): the body is still rendered once, stored, and re-sent byte for byte.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from cpaas.core import metrics
from cpaas.core.db import execute_prepared, pg_cursor
from cpaas.core.egress import client as http
from cpaas.core.ids import new_ids
from webhooks import conf, retry, signing
from webhooks.callback_models import Callback
from webhooks.sender import Result, attempt, get_sender
from webhooks.services import body_bytes, enqueue_once
from webhooks.tasks import deliver_callbacks

log = logging.getLogger(__name__)

KICK_KEY = "cpaas:webhooks:callbacks:kick"
BATCH = 200
CONNECTIONS_PER_ORIGIN = 8

_signers: dict[str, Callable[[str], list[str]]] = {}
_shapes: dict[str, CallbackShape] = {}


class CallbackShape(NamedTuple):
    """A channel's own wire format. ``render(callback, callback_id, now) -> body`` runs when the
    callback is recorded (the body is stored); ``headers(secrets, row) -> headers`` at every
    attempt, over the stored body and URL (``row`` is the :class:`Claimed` row: ``id``, ``url``,
    ``body``…)."""

    render: Callable[[NewCallback, str, datetime], str]
    headers: Callable[[list[str], Claimed], dict[str, str]]


def register_signer(channel: str, secrets_for: Callable[[str], list[str]], *,
                    shape: CallbackShape | None = None) -> None:
    """``secrets_for(app_id)`` gives the ``whsec_`` secrets that sign ``channel``'s callbacks
    (several during a rotation). Channels call this from their ``AppConfig.ready``; ``shape``
    replaces the Standard Webhooks JSON body and headers."""
    _signers[channel] = secrets_for
    if shape is not None:
        _shapes[channel] = shape


class NewCallback(NamedTuple):
    """One callback to record: :func:`send_callbacks` takes a batch of these."""

    app_id: str
    url: str
    type: str
    data: dict[str, Any]
    idempotency_key: str
    channel: str


def send_callback(app, url: str, type: str, data: dict[str, Any], *, idempotency_key: str,
                  channel: str) -> None:
    """Record a signed POST of ``{"id", "type", "created", "data"}`` to ``url``, sent after commit.

    Call inside the transaction that makes the change it reports. The same ``idempotency_key``
    for the same app records it once (later calls change nothing).
    """
    send_callbacks([NewCallback(getattr(app, "pk", app), url, type, data, idempotency_key, channel)])


# One statement for a whole batch, prepared once per connection: the rows travel as arrays in
# binary (``%b``: the text format escapes every quote of every JSON body with a regular
# expression, which cost more than the rest of recording a callback), the constant columns are
# literals, and a key already recorded for the app is skipped by the unique constraint. Building a
# Callback (and an Event for its body) per row and Django's bulk_create cost a sixth of an SMS
# worker's CPU in the per-message benchmark (decision 1020).
_INSERT_SQL = (
    "INSERT INTO webhooks_callback (id, app_id, channel, url, type, body, idempotency_key, status, attempts, "
    "next_attempt_at, last_error, created_at) "
    "SELECT v.id, v.app_id, v.channel, v.url, v.type, v.body, v.key, 'pending', 0, %s, '', %s "
    "FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[]) "
    "AS v(id, app_id, channel, url, type, body, key) "
    "ON CONFLICT (app_id, idempotency_key) DO NOTHING"
)


def send_callbacks(callbacks: Iterable[NewCallback]) -> None:
    """:func:`send_callback` for a batch: one INSERT and one kick on commit for all of them."""
    now = timezone.now()
    items = list(callbacks)
    if not items:
        return
    columns: tuple[list[str], ...] = (new_ids("cbk", len(items)), [], [], [], [], [], [])
    ids, apps, channels, urls, types, bodies, keys = columns
    for callback_id, item in zip(ids, items, strict=True):
        if item.channel not in _signers:
            raise ValueError(f"no signer registered for channel {item.channel!r}")
        apps.append(item.app_id)
        channels.append(item.channel)
        urls.append(item.url)
        types.append(item.type)
        shape = _shapes.get(item.channel)
        bodies.append(shape.render(item, callback_id, now) if shape is not None
                      else body_bytes(callback_id, item.type, now, item.data).decode())
        keys.append(item.idempotency_key)
    db = connections[DEFAULT_DB_ALIAS]
    with pg_cursor(db) as cursor, db.wrap_database_errors:  # errors stay Django's (decision 0420)
        execute_prepared(cursor, _INSERT_SQL, [now, now, *columns])
    transaction.on_commit(callbacks_kick)


def callbacks_kick() -> None:
    """Start a delivery task soon; a burst of callbacks enqueues at most one task per second."""
    enqueue_once(KICK_KEY, deliver_callbacks, "callback delivery")


# --- delivery -----------------------------------------------------------------------------------

@dataclass(slots=True)
class Claimed:
    """A callback row taken for one attempt, and that attempt's outcome (written by ``_record``)."""

    id: str
    app_id: str
    channel: str
    url: str
    body: str
    attempts: int  # attempts made before this one
    status: str = Callback.Status.PENDING
    delivered_at: datetime | None = None
    next_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str = ""


# ``= ANY(ARRAY(subquery))``: the locking subquery runs once, as an InitPlan, and the update goes
# by primary key (the SMS claim's shape, messaging/queries.py). One autocommit round trip instead
# of BEGIN, a SELECT … FOR UPDATE, an UPDATE and COMMIT (decision 1020).
_CLAIM_SQL = (
    "UPDATE webhooks_callback SET next_attempt_at = %s, attempts = attempts + 1 WHERE id = ANY(ARRAY("
    "SELECT id FROM webhooks_callback WHERE status = 'pending' AND next_attempt_at <= %s "
    "ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED)) AND status = 'pending' "
    "RETURNING id, app_id, channel, url, body, attempts - 1"
)


def _claim(limit: int) -> list[Claimed]:
    """Take due rows (skip the ones another worker holds) and lease them for one attempt."""
    now = timezone.now()
    lease = now + timedelta(seconds=conf.CLAIM_LEASE_SECONDS)
    db = connections[DEFAULT_DB_ALIAS]
    with pg_cursor(db) as cursor, db.wrap_database_errors:
        execute_prepared(cursor, _CLAIM_SQL, [lease, now, limit])
        return [Claimed(*row) for row in cursor.fetchall()]


async def _post(pool: http.Pool, row: Claimed, secrets: list[str]) -> Result:
    body = row.body.encode()
    shape = _shapes.get(row.channel)
    headers = (shape.headers(secrets, row) if shape is not None
               else signing.headers(secrets, row.id, int(time.time()), body))
    return await attempt(pool, row.url, headers, body, Result(), max_body=conf.STORED_RESPONSE_BYTES)


async def _post_all(pool: http.Pool, rows: list[Claimed], secrets: dict[tuple[str, str], list[str]]) -> list[Result]:
    """Send a batch concurrently on the sender's loop and pool (at most CONNECTIONS_PER_ORIGIN
    at once per origin)."""
    slots = http.OriginSlots(CONNECTIONS_PER_ORIGIN)

    async def one(row: Claimed) -> Result:
        try:
            semaphore = slots(row.url)
        except http.HttpError as exc:
            return Result(error=str(exc)[:500])
        async with semaphore:
            return await _post(pool, row, secrets[(row.channel, row.app_id)])

    return await asyncio.gather(*(one(row) for row in rows))


def _record(rows: list[Claimed], outcomes: list[Result]) -> dict[str, int]:
    metrics.count_webhook_results("callback", outcomes)
    now = timezone.now()
    counts = {"delivered": 0, "retrying": 0, "failed": 0}
    for row, outcome in zip(rows, outcomes, strict=True):
        attempts = row.attempts + 1  # the claim counted this attempt in the database
        row.last_status_code, row.last_error = outcome.status_code, outcome.error
        if outcome.ok:
            row.status, row.delivered_at, row.next_attempt_at = Callback.Status.DELIVERED, now, None
        else:
            after = None if outcome.blocked else retry.next_attempt_at(
                now, attempts, status_code=outcome.status_code, timed_out=outcome.timed_out,
                retry_after=retry.parse_retry_after(outcome.retry_after, now))
            row.status = Callback.Status.PENDING if after else Callback.Status.FAILED
            row.next_attempt_at = after
        counts["delivered" if outcome.ok else "retrying" if row.next_attempt_at else "failed"] += 1
    _outcomes_update(rows)
    return counts


_OUTCOMES_SQL = (
    "UPDATE webhooks_callback c SET status = v.status, delivered_at = v.delivered_at, "
    "next_attempt_at = v.next_attempt_at, last_status_code = v.code, last_error = v.error "
    "FROM unnest(%b::text[], %b::int[], %b::text[], %b::timestamptz[], %b::timestamptz[], %b::int[], %b::text[]) "
    "AS v(id, attempts, status, delivered_at, next_attempt_at, code, error) "
    "WHERE c.id = v.id AND c.attempts = v.attempts"
)


def _outcomes_update(rows: list[Claimed]) -> None:
    """Write the batch's outcomes, only to rows still held by this attempt (attempts unchanged
    since the claim): a row whose lease ran out and that another worker took is that worker's to
    record. One statement for the whole batch."""
    if not rows:
        return
    db = connections[DEFAULT_DB_ALIAS]
    with pg_cursor(db) as cursor, db.wrap_database_errors:
        execute_prepared(cursor, _OUTCOMES_SQL, [
            [row.id for row in rows], [row.attempts + 1 for row in rows], [row.status for row in rows],
            [row.delivered_at for row in rows], [row.next_attempt_at for row in rows],
            [row.last_status_code for row in rows], [row.last_error[:500] for row in rows],
        ])


POLL_SECONDS = 0.05


def callbacks_deliver(*, limit: int = BATCH, run_seconds: float | None = None, idle_exit: float = 0.0
                      ) -> dict[str, int]:
    """Claim due callbacks in batches and send them until none has been due for ``idle_exit``
    seconds (0: until none is due), or ``run_seconds`` pass.

    Safe to run concurrently and twice: claims skip locked rows and lease what they take. While
    it runs it holds the kick key, so commits meanwhile enqueue no task (a task per burst cost
    more than the callbacks it sent); it polls every ``POLL_SECONDS`` instead. Before leaving it
    drops the key and claims once more, so a callback recorded after its last empty claim is
    either taken by that claim or kicks the next run.
    """
    started = last_work = held = time.monotonic()
    deadline = started + (run_seconds if run_seconds is not None else conf.DISPATCH_RUN_SECONDS)
    hold = idle_exit + 5.0  # refreshed every second: a run that dies frees the kicks soon after
    cache.set(KICK_KEY, 1, timeout=hold)
    totals = {"delivered": 0, "retrying": 0, "failed": 0}
    while True:
        rows = _claim(limit)
        now = time.monotonic()
        if rows:
            last_work = now
            for key, value in _send(rows).items():
                totals[key] += value
            if len(rows) == limit and now < deadline:
                continue
        if now >= deadline:
            cache.delete(KICK_KEY)
            if rows:
                callbacks_kick()  # stopped with work left: the next run carries on
            return totals
        if now - last_work >= idle_exit:
            cache.delete(KICK_KEY)
            rows = _claim(limit)
            if not rows:
                return totals
            last_work = held = time.monotonic()
            cache.set(KICK_KEY, 1, timeout=hold)
            for key, value in _send(rows).items():
                totals[key] += value
            continue
        if now - held >= 1.0:
            held = now
            cache.set(KICK_KEY, 1, timeout=hold)
        time.sleep(POLL_SECONDS)


def _send(rows: list[Claimed]) -> dict[str, int]:
    """Sign and send one claimed batch and record its outcomes."""
    secrets = {(row.channel, row.app_id): _signers[row.channel](row.app_id)
               for row in rows if row.channel in _signers}
    sendable = [row for row in rows if (row.channel, row.app_id) in secrets]
    outcomes = []
    if sendable:
        sender = get_sender()  # the process's long-lived loop and keep-alive pool
        outcomes = sender.call(_post_all(sender.pool, sendable, secrets))
    unsigned = [row for row in rows if (row.channel, row.app_id) not in secrets]
    return _record(sendable + unsigned, outcomes + [
        Result(error=f"no signer for channel {row.channel}") for row in unsigned])
