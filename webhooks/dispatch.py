"""The dispatcher: claim due deliveries in batches, send them concurrently, record every attempt.

One dispatcher runs inside one Celery task at a time per worker process. It keeps claiming while
it has room (at most MAX_IN_FLIGHT requests in flight per process, and per endpoint what
``Sender.capacity`` allows), so a slow endpoint only ever holds its own few slots and never
delays healthy ones. Results are written in batches by the same (sync) thread.

Claims go per endpoint (docs/decisions/0109): first the endpoints with due work (a loose index
scan, one probe per endpoint, so a saturated endpoint's pile of due rows is never
walked), then each one's fair share of the batch, capped by what this process can still hold for
it. One ``UPDATE … WHERE id = ANY(ARRAY(… LATERAL (… FOR UPDATE SKIP LOCKED)))`` moves
``next_attempt_at`` forward by the lease, stamps a claim token and returns the rows with their
events. Results are only written where the claim token still matches.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from cpaas.core import metrics
from cpaas.core.db import pg_cursor
from cpaas.core.ids import new_id
from webhooks import conf, retry
from webhooks.models import Delivery, Endpoint
from webhooks.sender import Job, Result, Sender, get_sender
from webhooks.services import (
    NewEvent,
    active_secrets,
    endpoint_disable,
    events_publish,
    is_operational,
    payload,
)
from webhooks.signing import headers as signed_headers

log = logging.getLogger(__name__)


@dataclass
class _Circuit:
    failures: int = 0
    open_until: float = 0.0
    open_seconds: float = 0.0
    probing: bool = False


class Breaker:
    """Per-process circuit breaker per endpoint, with half-open probes.

    After BREAKER_FAILURES consecutive failed attempts the circuit opens: the endpoint's due
    deliveries are put back (not counted as attempts) until it closes. When the open period ends
    one probe is let through; success closes the circuit, failure reopens it for twice as long.
    """

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self.circuits: dict[str, _Circuit] = {}

    def allow(self, endpoint_id: str) -> float:
        """0 if a request may go now, else seconds to wait."""
        circuit = self.circuits.get(endpoint_id)
        if circuit is None or not circuit.open_until:
            return 0.0
        now = self.clock()
        if now < circuit.open_until:
            return circuit.open_until - now
        if circuit.probing:
            return 1.0
        circuit.probing = True
        return 0.0

    def blocked(self) -> set[str]:
        now = self.clock()
        return {e for e, c in self.circuits.items() if c.open_until and (now < c.open_until or c.probing)}

    def success(self, endpoint_id: str) -> None:
        self.circuits.pop(endpoint_id, None)

    def failure(self, endpoint_id: str) -> None:
        circuit = self.circuits.setdefault(endpoint_id, _Circuit())
        circuit.failures += 1
        if circuit.probing:
            circuit.probing = False
            circuit.open_seconds = min(conf.BREAKER_MAX_OPEN_SECONDS, circuit.open_seconds * 2)
            circuit.open_until = self.clock() + circuit.open_seconds
        elif not circuit.open_until and circuit.failures >= conf.BREAKER_FAILURES:
            circuit.open_seconds = conf.BREAKER_OPEN_SECONDS
            circuit.open_until = self.clock() + circuit.open_seconds


_breaker = Breaker()
# Results are written once this many are waiting, or the oldest has waited this long.
FLUSH_BATCH = 200
FLUSH_SECONDS = 0.05
# How often a running dispatcher looks for newly due rows when its last claim was not full.
POLL_SECONDS = 0.01


def _relaxed_commit() -> None:
    """Inside a transaction: don't wait for the WAL flush at commit.

    Losing the last few milliseconds of claims or results in a database crash only means some
    deliveries are sent again, which at-least-once delivery allows (receivers dedupe on
    webhook-id); in exchange a commit costs no disk round trip.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")


@dataclass(slots=True)
class EventRow:
    """What a payload needs of an event (read with the claim, no ORM objects per row)."""

    id: str
    type: str
    data: object
    created_at: datetime
    subject: str
    sequence: int


@dataclass(slots=True)
class Claimed:
    """A claimed delivery and its event."""

    id: str
    app_id: str
    endpoint_id: str
    event_id: str
    attempts: int
    manual: bool
    claim_token: str
    event: EventRow


# Endpoints with pending deliveries, walked with a loose index scan (one descent of
# delivery_endpoint_due_idx per endpoint, however many rows each has): the first pending row of an
# endpoint in (endpoint_id, next_attempt_at) order is its earliest, so the endpoint has due work
# iff that row is due. Excluded (saturated or circuit-open) endpoints cost one descent, never a walk
# through their due rows.
_DUE_ENDPOINTS_SQL = (
    "WITH RECURSIVE eps(endpoint_id, due_at) AS ("
    "(SELECT endpoint_id, next_attempt_at FROM webhooks_delivery WHERE status = 'pending' "
    "ORDER BY endpoint_id, next_attempt_at LIMIT 1) "
    "UNION ALL "
    "SELECT n.endpoint_id, n.next_attempt_at FROM eps, LATERAL ("
    "SELECT endpoint_id, next_attempt_at FROM webhooks_delivery "
    "WHERE status = 'pending' AND endpoint_id > eps.endpoint_id "
    "ORDER BY endpoint_id, next_attempt_at LIMIT 1) n) "
    "SELECT endpoint_id FROM eps WHERE due_at <= %s AND NOT (endpoint_id = ANY(%s)) "
    "ORDER BY due_at LIMIT %s"
)

# Up to k due rows per chosen endpoint (each its own short range of delivery_endpoint_due_idx),
# locked with SKIP LOCKED, leased and returned with their events in one statement. The ids are
# gathered in an ARRAY(…) init plan so the update finds its rows by primary key.
_CLAIM_SQL = (
    "UPDATE webhooks_delivery d SET next_attempt_at = %s, claim_token = %s "
    "FROM webhooks_event e "
    "WHERE d.id = ANY(ARRAY("
    "SELECT x.id FROM unnest(%s::text[], %s::int[]) AS w(endpoint_id, k), LATERAL ("
    "SELECT id FROM webhooks_delivery WHERE status = 'pending' AND endpoint_id = w.endpoint_id "
    "AND next_attempt_at <= %s ORDER BY next_attempt_at LIMIT w.k FOR UPDATE SKIP LOCKED) x)) "
    "AND e.id = d.event_id "
    "RETURNING d.id, d.app_id, d.endpoint_id, d.event_id, d.attempts, d.manual, "
    "e.type, e.data, e.created_at, e.subject, e.sequence"
)


class Claims(list):
    """The claimed deliveries; ``more`` is true when some endpoint filled its share (more is
    probably due there, so the dispatcher claims again at once instead of polling later)."""

    more: bool = False


def due_endpoints(now: datetime, *, exclude: set[str] = frozenset(), limit: int = 1000) -> list[str]:
    """Endpoints with due deliveries, the one waiting longest first, leaving out ``exclude``."""
    with pg_cursor() as cursor:
        cursor.execute(_DUE_ENDPOINTS_SQL, [now, list(exclude), limit], prepare=True)
        return [row[0] for row in cursor.fetchall()]


def shares(endpoints: list[str], limit: int, room: Callable[[str], int] | None = None) -> dict[str, int]:
    """Split ``limit`` rows fairly between endpoints, none above its ``room`` (None: no cap).

    Water-filling: endpoints with less room than an equal share take what they can and the rest
    is split among the others. The longest-waiting endpoints come first, so when there are more
    endpoints than rows each of the first ``limit`` gets one.
    """
    caps = {e: (limit if room is None else max(0, min(limit, room(e)))) for e in endpoints}
    eligible = [e for e in endpoints if caps[e] > 0]
    if len(eligible) >= limit:
        return dict.fromkeys(eligible[:limit], 1)
    out: dict[str, int] = {}
    left = limit
    for n, endpoint in enumerate(sorted(eligible, key=caps.__getitem__)):  # stable: waiting order kept
        take = min(caps[endpoint], left // (len(eligible) - n))
        out[endpoint] = take
        left -= take
    return {e: out[e] for e in eligible}


def claim(limit: int, *, exclude: set[str] = frozenset(), room: Callable[[str], int] | None = None,
          now: datetime | None = None) -> Claims:
    """Take up to ``limit`` due deliveries, shared fairly between endpoints with due work;
    no two dispatchers ever take the same row.

    ``room(endpoint_id)``, when given, caps what one endpoint may get (what this process can
    still hold for it). On PostgreSQL two statements: find the endpoints with due work (a loose
    index scan), then lock, lease and read each one's share (docs/decisions/0109).
    """
    now = now or timezone.now()
    token = uuid.uuid4().hex
    lease = now + timedelta(seconds=conf.CLAIM_LEASE_SECONDS)
    quotas = shares(due_endpoints(now, exclude=exclude, limit=limit), limit, room)
    out = Claims()
    if not quotas:
        return out
    with pg_cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [lease, token, list(quotas), list(quotas.values()), now], prepare=True)
        rows = cursor.fetchall()
    out.extend(
        Claimed(pk, app_id, endpoint_id, event_id, attempts, manual, token,
                EventRow(event_id, type_, json.loads(data) if isinstance(data, str) else data, created, subject,
                         sequence))
        for pk, app_id, endpoint_id, event_id, attempts, manual, type_, data, created, subject, sequence in rows
    )
    taken: dict[str, int] = defaultdict(int)
    for row in out:
        taken[row.endpoint_id] += 1
    out.more = any(taken[endpoint] >= k for endpoint, k in quotas.items())
    return out


def _release(deliveries: list[tuple[Claimed, float]], now: datetime) -> None:
    """Put claimed rows back, due after the given delay, without counting an attempt."""
    groups: dict[tuple[str, int], list[str]] = defaultdict(list)
    for delivery, delay in deliveries:
        groups[(delivery.claim_token, round(delay))].append(delivery.id)
    for (token, delay), ids in groups.items():
        Delivery.objects.filter(pk__in=ids, claim_token=token).update(
            next_attempt_at=now + timedelta(seconds=delay), claim_token=""
        )


class Dispatcher:
    def __init__(self, sender: Sender | None = None, breaker: Breaker | None = None) -> None:
        self.sender = sender or get_sender()
        self.breaker = breaker or _breaker
        self._pending: list[Result] = []
        self._pending_since: float | None = None
        self.more_due = False  # the last claim filled some endpoint's share
        self.session_relaxed = False  # inside run(): the session commits without a WAL wait

    # --- the loop ---------------------------------------------------------------------------
    def run(self, *, run_seconds: float | None = None, idle_exit: float | None = None) -> int:
        """Claim and send until idle (or ``run_seconds``), then finish what is in flight."""
        run_seconds = conf.DISPATCH_RUN_SECONDS if run_seconds is None else run_seconds
        idle_exit = conf.DISPATCH_IDLE_EXIT_SECONDS if idle_exit is None else idle_exit
        # Claims are single autocommit statements: relax their commits for this session (0103).
        relaxed = not connection.in_atomic_block
        if relaxed:
            with connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit = off")
        self.session_relaxed = relaxed
        try:
            return self._loop(run_seconds, idle_exit)
        finally:
            self.session_relaxed = False
            if relaxed:
                with connection.cursor() as cursor:
                    cursor.execute("RESET synchronous_commit")

    def _loop(self, run_seconds: float, idle_exit: float) -> int:
        started = last_work = time.monotonic()
        next_claim = started
        sent = 0
        while True:
            self.flush(force=False)
            now = time.monotonic()
            claiming = now - started < run_seconds
            if claiming and now >= next_claim:
                room = conf.MAX_IN_FLIGHT - self.sender.in_flight
                if room >= max(1, min(conf.BATCH_SIZE, conf.MAX_IN_FLIGHT) // 2):
                    limit = min(conf.BATCH_SIZE, room)
                    count = self.dispatch_once(limit)
                    if count:
                        sent += count
                        last_work = time.monotonic()
                    if self.more_due:
                        continue  # some endpoint filled its share: more is probably due
                    # Not full: what was due is taken; poll again shortly (results arriving in the
                    # meantime must not make the loop claim on every one of them).
                    next_claim = time.monotonic() + POLL_SECONDS
            in_flight = self.sender.in_flight
            if in_flight == 0 and (not claiming or now - last_work >= idle_exit):
                break
            pause = max(0.001, next_claim - time.monotonic()) if claiming else 0.2
            self.sender.wait(min(pause, FLUSH_SECONDS))
        self.flush()
        return sent

    def dispatch_once(self, limit: int) -> int:
        """One claim; returns how many requests were started (deferred rows not counted)."""
        exclude = self.sender.saturated() | self.breaker.blocked()
        sender = self.sender
        rows = claim(limit, exclude=exclude,
                     room=lambda endpoint: sender.capacity(endpoint) - sender.endpoint_load(endpoint))
        self.more_due = rows.more
        if not rows:
            return 0
        now = timezone.now()
        timestamp = int(time.time())
        endpoints = Endpoint.objects.in_bulk({row.endpoint_id for row in rows})
        secrets: dict[str, list[str]] = {}
        bodies: dict[str, bytes] = {}
        planned: dict[str, int] = defaultdict(int)
        deferred: list[tuple[Claimed, float]] = []
        disabled: list[Claimed] = []
        jobs: list[Job] = []
        for delivery in rows:
            endpoint = endpoints.get(delivery.endpoint_id)
            if endpoint is None or not endpoint.enabled:
                disabled.append(delivery)
                continue
            wait = self.breaker.allow(endpoint.id)
            if wait:
                deferred.append((delivery, wait))
                continue
            if self.sender.endpoint_load(endpoint.id) + planned[endpoint.id] >= self.sender.capacity(endpoint.id):
                deferred.append((delivery, 0.0))
                continue
            if endpoint.rate_limit:
                wait = _rate_wait(endpoint)
                if wait:
                    deferred.append((delivery, wait))
                    continue
            planned[endpoint.id] += 1
            event = delivery.event
            body = bodies.get(event.id)
            if body is None:
                body = bodies[event.id] = payload(event)
            keys = secrets.get(endpoint.id)
            if keys is None:
                keys = secrets[endpoint.id] = active_secrets(endpoint, now)
            jobs.append(Job(
                delivery_id=delivery.id, endpoint_id=endpoint.id, app_id=delivery.app_id, url=endpoint.url,
                body=body, headers=signed_headers(keys, event.id, timestamp, body),
                claim_token=delivery.claim_token, attempts=delivery.attempts, manual=delivery.manual,
                event_id=event.id, event_type=event.type, was_failing=endpoint.failing_since is not None,
            ))
        self.sender.submit_many(jobs)
        if deferred:
            _release(deferred, now)
        if disabled:
            Delivery.objects.filter(pk__in=[d.id for d in disabled]).update(
                status=Delivery.Status.FAILED, next_attempt_at=None, claim_token="", completed_at=now,
                last_error="endpoint disabled",
            )
        return len(jobs)

    # --- results ----------------------------------------------------------------------------
    def flush(self, force: bool = True) -> int:
        """Write finished attempts; unless forced, wait for a batch worth a transaction."""
        self._pending.extend(self.sender.drain())
        if not self._pending:
            return 0
        age = time.monotonic() - self._pending_since if self._pending_since else 0.0
        if self._pending_since is None:
            self._pending_since = time.monotonic()
        # Results wait up to FLUSH_SECONDS for company even when nothing else is in flight: at a
        # trickle that turns one write transaction per delivery into one per 50 ms.
        if not force and len(self._pending) < FLUSH_BATCH and age < FLUSH_SECONDS:
            return 0
        results, self._pending, self._pending_since = self._pending, [], None
        record_results(results, breaker=self.breaker, session_relaxed=self.session_relaxed)
        return len(results)


def _rate_wait(endpoint: Endpoint) -> float:
    from cpaas.core.ratelimit import gate

    admission = gate().admit(
        f"cpaas:whrl:{endpoint.app_id}:{endpoint.id}", "cpaas:whrl:never-denied",
        endpoint.rate_limit, max(1, endpoint.rate_limit),
    )
    return 0.0 if admission.allowed else float(admission.retry_after)


def _attempt_payload(job: Job, result: Result, attempts: int, url: str) -> dict:
    return {
        "endpoint_id": job.endpoint_id, "url": url, "delivery_id": job.delivery_id,
        "event_id": job.event_id, "event_type": job.event_type, "attempts": attempts,
        "last_status_code": result.status_code, "last_error": result.error,
    }


_ATTEMPT_COLUMNS = ("id", "delivery_id", "endpoint_id", "created_at", "status_code", "latency_ms",
                    "response_body", "error", "request_headers", "succeeded")


def _attempts_insert(rows: list[tuple]) -> None:
    """The attempt log: COPY (no per-value quoting in Python)."""
    if not rows:
        return
    from psycopg.types.json import Jsonb

    with pg_cursor() as cursor, cursor.copy(
        f"COPY webhooks_attempt ({', '.join(_ATTEMPT_COLUMNS)}) FROM STDIN"
    ) as copy:
        for row in rows:
            copy.write_row((*row[:8], Jsonb(row[8]), row[9]))


def _succeeded_update(rows: list[tuple[str, str, int]], now: datetime) -> None:
    """Mark succeeded deliveries, each only where its claim token still matches (one statement)."""
    if not rows:
        return
    with pg_cursor() as cursor:
        cursor.execute(
            "UPDATE webhooks_delivery d SET status = 'succeeded', attempts = d.attempts + 1, "
            "next_attempt_at = NULL, claim_token = '', last_status_code = v.code, last_error = '', "
            "last_attempt_at = %s, completed_at = %s "
            "FROM unnest(%s::text[], %s::text[], %s::int[]) AS v(id, token, code) "
            "WHERE d.id = v.id AND d.claim_token = v.token",
            [now, now, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
        )


def record_results(results: list[Result], *, breaker: Breaker | None = None, session_relaxed: bool = False) -> None:
    """Write the attempts and move each delivery on: succeeded, retry later, or failed.

    ``session_relaxed``: the caller's session already commits without waiting for the WAL flush
    (``Dispatcher.run``), so the transaction need not say it again."""
    breaker = breaker or _breaker
    metrics.count_webhook_results("event", results)
    now = timezone.now()
    tz = now.tzinfo
    attempts: list[tuple] = []
    succeeded: list[tuple[str, str, int]] = []
    recovered_endpoints: set[str] = set()
    gone: set[str] = set()
    notices: list[tuple[str, Job, Result, int]] = []
    with transaction.atomic():
        if not session_relaxed:
            _relaxed_commit()
        for result in results:
            job = result.job
            made = job.attempts + 1
            error = result.error
            if result.truncated:
                error = (error + "; " if error else "") + f"response cut at {conf.MAX_RESPONSE_BYTES} bytes"
            attempts.append((
                new_id("att"), job.delivery_id, job.endpoint_id, datetime.fromtimestamp(result.finished_at, tz=tz),
                result.status_code, result.latency_ms, result.body.replace("\x00", ""), error[:500], job.headers,
                result.ok,
            ))
            operational = is_operational(job.event_type)
            if result.ok:
                breaker.success(job.endpoint_id)
                succeeded.append((job.delivery_id, job.claim_token, result.status_code))
                if job.was_failing:
                    recovered_endpoints.add(job.endpoint_id)
                if job.attempts >= retry.FAILING_AFTER_ATTEMPTS and not operational:
                    notices.append(("webhook.attempt.recovered", job, result, made))
                continue
            breaker.failure(job.endpoint_id)
            if result.status_code == 410:
                gone.add(job.endpoint_id)
            when = None
            if not job.manual and result.status_code != 410:
                when = retry.next_attempt_at(
                    now, made, status_code=result.status_code, timed_out=result.timed_out,
                    retry_after=retry.parse_retry_after(result.retry_after, now),
                )
            fields = dict(
                attempts=F("attempts") + 1, last_status_code=result.status_code, last_error=error[:500],
                last_attempt_at=now, claim_token="",
            )
            if when is None:
                fields.update(status=Delivery.Status.FAILED, next_attempt_at=None, completed_at=now)
            else:
                fields.update(next_attempt_at=when)
            updated = Delivery.objects.filter(pk=job.delivery_id, claim_token=job.claim_token).update(**fields)
            if not updated or operational or job.manual:
                continue
            if when is None:
                notices.append(("webhook.attempt.exhausted", job, result, made))
                Endpoint.objects.filter(pk=job.endpoint_id, failing_since__isnull=True).update(failing_since=now)
            elif made == retry.FAILING_AFTER_ATTEMPTS:
                notices.append(("webhook.attempt.failing", job, result, made))
        _attempts_insert(attempts)
        _succeeded_update(succeeded, now)
        if recovered_endpoints:
            Endpoint.objects.filter(pk__in=recovered_endpoints).update(failing_since=None)
        if notices:
            endpoints = {pk: (url, mode) for pk, url, mode in Endpoint.objects.filter(
                pk__in={n[1].endpoint_id for n in notices}).values_list("id", "url", "mode")}
            by_app: dict[str, list[NewEvent]] = defaultdict(list)
            for type_, job, result, made in notices:
                if job.endpoint_id not in endpoints:
                    continue  # deleted meanwhile: its mode is unknown, and nobody to warn about it
                url, mode = endpoints[job.endpoint_id]
                by_app[job.app_id].append(NewEvent(
                    type_, _attempt_payload(job, result, made, url), f"{type_}:{job.delivery_id}:{made}",
                    mode == "live"))
            for app_id, events in by_app.items():
                events_publish(app=app_id, events=events, livemode=None, returning=False)  # each its own
    for endpoint_id in gone:
        endpoint_disable(endpoint_id=endpoint_id, reason="gone", now=now)
