"""The dispatcher: claim due deliveries in batches, send them concurrently, record every attempt.

One dispatcher runs inside one Celery task at a time per worker process. It keeps claiming while
it has room (at most MAX_IN_FLIGHT requests in flight per process, and per endpoint what
``Sender.capacity`` allows), so a slow endpoint only ever holds its own few slots and never
delays healthy ones. Results are written in batches by the same (sync) thread.

Claims are portable: the due rows are picked with ``select_for_update(skip_locked=True)`` on
PostgreSQL (a no-op on SQLite, where IMMEDIATE transactions serialise writers) and taken with a
conditional UPDATE that moves ``next_attempt_at`` forward by the lease and stamps a claim token.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from webhooks import conf, retry
from webhooks.models import Attempt, Delivery, Endpoint
from webhooks.sender import Job, Result, Sender, get_sender
from webhooks.services import active_secrets, endpoint_disable, event_publish, is_operational, payload
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


def _relaxed_commit() -> None:
    """Inside a transaction on PostgreSQL: don't wait for the WAL flush at commit.

    Losing the last few milliseconds of claims or results in a database crash only means some
    deliveries are sent again, which at-least-once delivery allows (receivers dedupe on
    webhook-id); in exchange a commit costs no disk round trip.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def claim(limit: int, *, exclude: set[str] = frozenset(), now: datetime | None = None) -> list[Delivery]:
    """Take up to ``limit`` due deliveries; no two dispatchers ever take the same row."""
    now = now or timezone.now()
    token = uuid.uuid4().hex
    with transaction.atomic():
        _relaxed_commit()
        due = Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
        if exclude:
            due = due.exclude(endpoint_id__in=exclude)
        ids = list(
            due.select_for_update(skip_locked=True).order_by("next_attempt_at").values_list("id", flat=True)[:limit]
        )
        if not ids:
            return []
        Delivery.objects.filter(
            id__in=ids, status=Delivery.Status.PENDING, next_attempt_at__lte=now
        ).update(next_attempt_at=now + timedelta(seconds=conf.CLAIM_LEASE_SECONDS), claim_token=token)
    return list(Delivery.objects.filter(claim_token=token).select_related("event", "endpoint"))


def _release(deliveries: list[tuple[Delivery, float]], now: datetime) -> None:
    """Put claimed rows back, due after the given delay, without counting an attempt."""
    groups: dict[tuple[str, int], list[str]] = defaultdict(list)
    for delivery, delay in deliveries:
        groups[(delivery.claim_token, round(delay))].append(delivery.pk)
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

    # --- the loop ---------------------------------------------------------------------------
    def run(self, *, run_seconds: float | None = None, idle_exit: float | None = None) -> int:
        """Claim and send until idle (or ``run_seconds``), then finish what is in flight."""
        run_seconds = conf.DISPATCH_RUN_SECONDS if run_seconds is None else run_seconds
        idle_exit = conf.DISPATCH_IDLE_EXIT_SECONDS if idle_exit is None else idle_exit
        started = last_work = time.monotonic()
        sent = 0
        while True:
            self.flush(force=False)
            now = time.monotonic()
            claiming = now - started < run_seconds
            if claiming:
                room = conf.MAX_IN_FLIGHT - self.sender.in_flight
                if room >= max(1, min(conf.BATCH_SIZE, conf.MAX_IN_FLIGHT) // 2):
                    count = self.dispatch_once(min(conf.BATCH_SIZE, room))
                    if count:
                        sent += count
                        last_work = time.monotonic()
                        continue
            in_flight = self.sender.in_flight
            if in_flight == 0 and (not claiming or now - last_work >= idle_exit):
                break
            self.sender.wait(0.01 if claiming else 0.2)
        self.flush()
        return sent

    def dispatch_once(self, limit: int) -> int:
        """One claim; returns how many requests were started (deferred rows not counted)."""
        exclude = self.sender.saturated() | self.breaker.blocked()
        rows = claim(limit, exclude=exclude)
        if not rows:
            return 0
        now = timezone.now()
        timestamp = int(time.time())
        bodies: dict[str, bytes] = {}
        planned: dict[str, int] = defaultdict(int)
        deferred: list[tuple[Delivery, float]] = []
        disabled: list[Delivery] = []
        jobs: list[Job] = []
        for delivery in rows:
            endpoint = delivery.endpoint
            if not endpoint.enabled:
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
            jobs.append(Job(
                delivery_id=delivery.id, endpoint_id=endpoint.id, app_id=delivery.app_id, url=endpoint.url,
                body=body, headers=signed_headers(active_secrets(endpoint, now), event.id, timestamp, body),
                claim_token=delivery.claim_token, attempts=delivery.attempts, manual=delivery.manual,
                event_id=event.id, event_type=event.type, was_failing=endpoint.failing_since is not None,
            ))
        for job in jobs:
            self.sender.submit(job)
        if deferred:
            _release(deferred, now)
        if disabled:
            Delivery.objects.filter(pk__in=[d.pk for d in disabled]).update(
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
        if not force and len(self._pending) < FLUSH_BATCH and age < FLUSH_SECONDS and self.sender.in_flight:
            return 0
        results, self._pending, self._pending_since = self._pending, [], None
        record_results(results, breaker=self.breaker)
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


def record_results(results: list[Result], *, breaker: Breaker | None = None) -> None:
    """Write the attempts and move each delivery on: succeeded, retry later, or failed."""
    breaker = breaker or _breaker
    now = timezone.now()
    attempts: list[Attempt] = []
    succeeded: dict[tuple[str, int], list[str]] = defaultdict(list)
    recovered_endpoints: set[str] = set()
    gone: set[str] = set()
    notices: list[tuple[str, Job, Result, int]] = []
    with transaction.atomic():
        _relaxed_commit()
        for result in results:
            job = result.job
            made = job.attempts + 1
            error = result.error
            if result.truncated:
                error = (error + "; " if error else "") + f"response cut at {conf.MAX_RESPONSE_BYTES} bytes"
            attempts.append(Attempt(
                delivery_id=job.delivery_id, endpoint_id=job.endpoint_id,
                created_at=datetime.fromtimestamp(result.finished_at, tz=now.tzinfo),
                status_code=result.status_code, latency_ms=result.latency_ms, response_body=result.body,
                error=error[:500], request_headers=job.headers, succeeded=result.ok,
            ))
            operational = is_operational(job.event_type)
            if result.ok:
                breaker.success(job.endpoint_id)
                succeeded[(job.claim_token, result.status_code)].append(job.delivery_id)
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
        Attempt.objects.bulk_create(attempts)
        for (token, code), ids in succeeded.items():
            Delivery.objects.filter(pk__in=ids, claim_token=token).update(
                status=Delivery.Status.SUCCEEDED, attempts=F("attempts") + 1, next_attempt_at=None,
                claim_token="", last_status_code=code, last_error="", last_attempt_at=now, completed_at=now,
            )
        if recovered_endpoints:
            Endpoint.objects.filter(pk__in=recovered_endpoints).update(failing_since=None)
        if notices:
            endpoints = {pk: (url, mode) for pk, url, mode in Endpoint.objects.filter(
                pk__in={n[1].endpoint_id for n in notices}).values_list("id", "url", "mode")}
            for type_, job, result, made in notices:
                url, mode = endpoints.get(job.endpoint_id, (job.url, None))
                event_publish(
                    app=job.app_id, type=type_, data=_attempt_payload(job, result, made, url),
                    idempotency_key=f"{type_}:{job.delivery_id}:{made}",
                    livemode=None if mode is None else mode == "live",
                )
    for endpoint_id in gone:
        endpoint_disable(endpoint_id=endpoint_id, reason="gone", now=now)
