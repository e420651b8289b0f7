"""The usage ledger: durable, deduplicated, cheap ingestion with incrementally kept rollups.

Mechanism (docs/decisions/0700-billing-ledger-write-path.md): every accepted event is written to
PostgreSQL *inside the caller's transaction* — so a send and its usage commit or vanish
together, and nothing sits in process memory after the caller believes it was recorded. A
single ``record_usage`` is one multi-statement round trip; inside ``usage_batch()`` calls are
buffered and flushed as multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING`` statements when
the block exits (still inside the transaction). The same flush upserts the daily rollups
(``UsageDaily``) for the rows that were actually new, so rating never scans raw events (except
voice per-call increments). Unique-count meters (DAU) ask Redis first: a subject already marked
today never reaches PostgreSQL; Redis is marked only after commit, PostgreSQL stays the truth.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from billing import conf
from billing.meters import METERS, meter_get
from cpaas.core import metrics
from cpaas.core.db import chunks, pg_cursor
from cpaas.core.errors import ApiError
from cpaas.core.ids import new_ids
from cpaas.core.redis_client import redis_client
from cpaas.core.scoping import MODES

MAX_QUANTITY = Decimal("1e13")
_QUANTUM = Decimal("0.000001")


# --- periods --------------------------------------------------------------------------------------

def period_of(day: date) -> date:
    return day.replace(day=1)


def period_after(start: date) -> date:
    return date(start.year + (start.month == 12), start.month % 12 + 1, 1)


def period_bounds(start: date) -> tuple[datetime, datetime]:
    end = period_after(start)
    return (datetime(start.year, start.month, 1, tzinfo=UTC), datetime(end.year, end.month, 1, tzinfo=UTC))


def period_closes_at(start: date) -> datetime:
    """When a period's grace window ends: after this its usage goes to a later invoice."""
    return period_bounds(start)[1] + conf.GRACE


def open_period(at: datetime) -> date:
    """The oldest period still accepting usage at ``at`` (its grace window not over)."""
    return period_of((at - conf.GRACE).astimezone(UTC).date())


def bill_period_for(occurred_at: datetime, received_at: datetime) -> tuple[date, bool]:
    own = period_of(occurred_at.astimezone(UTC).date())
    current = open_period(received_at)
    return (own, False) if own >= current else (current, True)


# --- validation -------------------------------------------------------------------------------------

@dataclass(slots=True)
class Pending:
    tenant_id: str
    app_id: str
    meter: str
    aggregation: str
    quantity: Decimal
    subject: str
    dimensions: dict[str, str]
    dims_key: str
    occurred_at: datetime
    received_at: datetime
    idempotency_key: str
    fingerprint: str
    bill_period: date
    late: bool
    mode: str = "live"
    origin: str = "platform"

    @property
    def day(self) -> date:
        return self.occurred_at.astimezone(UTC).date()


_tenant_of_app: dict[str, str] = {}


def _tenant_id(app) -> tuple[str, str]:
    app_id = getattr(app, "pk", app)
    tenant_id = getattr(app, "tenant_id", None) or _tenant_of_app.get(app_id)
    if tenant_id is None:
        from cpaas.tenants.models import App

        tenant_id = App.objects.filter(pk=app_id).values_list("tenant_id", flat=True).first()
        if tenant_id is None:
            raise ApiError(f"No such app {app_id!r}.", code="not_found", param="app")
    if len(_tenant_of_app) < 100_000:
        _tenant_of_app[app_id] = tenant_id
    return app_id, tenant_id


def parse_quantity(quantity, param: str = "quantity") -> Decimal:
    if isinstance(quantity, bool | float):
        raise ApiError("`quantity` must be a decimal string or an integer, not a float.", code="invalid_quantity",
                       param=param)
    try:
        value = quantity if isinstance(quantity, Decimal) else Decimal(str(quantity).strip())
    except (InvalidOperation, ValueError):
        raise ApiError("`quantity` must be a number.", code="invalid_quantity", param=param) from None
    if not value.is_finite() or value < 0 or value >= MAX_QUANTITY or value != value.quantize(_QUANTUM):
        raise ApiError("`quantity` must be a number from 0 up to 1e13 with at most 6 decimals.",
                       code="invalid_quantity", param=param)
    return value


_dims_cache: dict[tuple, tuple[dict[str, str], str]] = {}
_open_cache: tuple[int, date] = (-1, date.min)  # (received second, open period), swapped atomically


def _dims(dimensions: dict[str, Any]) -> tuple[dict[str, str], str]:
    """Canonical dimensions and their JSON key; the few distinct shapes are cached."""
    items = tuple(sorted(dimensions.items()))
    hit = _dims_cache.get(items)
    if hit is None:
        dims = {str(k): str(v) for k, v in items}
        hit = (dims, json.dumps(dims, separators=(",", ":"), ensure_ascii=False))
        if len(_dims_cache) < 10_000:
            _dims_cache[items] = hit
    return hit


ORIGINS = ("platform", "tenant")


def usage_prepare(*, app, meter: str, quantity, subject: str | None, dimensions: dict[str, Any] | None,
                  occurred_at: datetime, idempotency_key: str, received_at: datetime | None = None,
                  param_prefix: str = "", mode: str = "live", origin: str = "platform") -> Pending:
    """Validate one event and compute what the ledger stores (no I/O except an app lookup once).

    ``mode`` is the key mode the usage came from (only live usage is rated); ``origin`` says who
    reported it (``tenant``: the usage-events API), which decides who may void it.
    This runs once per event on the hot path: error messages are only built on error."""
    if mode not in MODES:
        raise ValueError(f"usage mode must be 'test' or 'live', not {mode!r}")
    if origin not in ORIGINS:
        raise ValueError(f"usage origin must be 'platform' or 'tenant', not {origin!r}")
    definition = METERS.get(meter)
    if definition is None:
        raise ApiError(f"Unknown meter {meter!r}.", code="unknown_meter", param=param_prefix + "meter")
    if type(quantity) is int and 0 <= quantity < MAX_QUANTITY:
        value = Decimal(quantity)
    else:
        value = parse_quantity(quantity, param_prefix + "quantity")
    if occurred_at is None or occurred_at.utcoffset() is None:
        raise ApiError("`occurred_at` must be an aware datetime.", param=param_prefix + "occurred_at")
    if not idempotency_key or len(idempotency_key) > 200:
        raise ApiError("`idempotency_key` must be 1 to 200 characters.", param=param_prefix + "idempotency_key")
    subject = subject or ""
    if not subject and definition.aggregation == "unique_count":
        raise ApiError(f"Meter {meter} counts unique subjects: `subject` is required.",
                       param=param_prefix + "subject")
    if len(subject) > 200:
        raise ApiError("`subject` is at most 200 characters.", param=param_prefix + "subject")
    dims, dims_key = _dims(dimensions) if dimensions else ({}, "")
    if len(dims_key) > 400:
        raise ApiError("`dimensions` are too large (400 characters at most).", param=param_prefix + "dimensions")
    app_id, tenant_id = _tenant_id(app)
    received = received_at or datetime.now(UTC)
    occurred = occurred_at if occurred_at.tzinfo is UTC else occurred_at.astimezone(UTC)
    global _open_cache
    second = int(received.timestamp())
    cached = _open_cache
    if cached[0] == second:
        current = cached[1]
    else:
        current = open_period(received)
        _open_cache = (second, current)
    own = occurred.date().replace(day=1)
    bill_period, late = (own, False) if own >= current else (current, True)
    digest = hashlib.blake2b(
        f"{meter}\x1f{value.normalize()}\x1f{subject}\x1f{dims_key}\x1f{occurred.timestamp()}".encode(),
        digest_size=16).hexdigest()
    return Pending(tenant_id, app_id, meter, definition.aggregation, value, subject, dims, dims_key, occurred,
                   received, idempotency_key, digest, bill_period, late, mode, origin)


# --- buffering ----------------------------------------------------------------------------------------

class UsageConflict(ApiError):
    code = "usage_key_conflict"


_local = threading.local()


@contextlib.contextmanager
def usage_batch() -> Iterator[list[Pending]]:
    """Buffer ``record_usage`` calls and write them in batches when the block exits.

    Use it inside the transaction that makes the usage true (``transaction.atomic()``): the
    flush happens before that transaction commits, so accepted usage is never only in memory.
    """
    outer = getattr(_local, "buffer", None)
    if outer is not None:  # nested: the outermost block flushes
        yield outer
        return
    _local.buffer = buffer = []
    try:
        yield buffer
        usage_flush(buffer)
    finally:
        _local.buffer = None


def usage_record(*, app, meter: str, quantity, subject: str | None = None,
                 dimensions: dict[str, Any] | None = None, occurred_at: datetime,
                 idempotency_key: str, mode: str = "live") -> Pending:
    """Validate and append one event (buffered inside ``usage_batch()``, else written now)."""
    pending = usage_prepare(app=app, meter=meter, quantity=quantity, subject=subject, dimensions=dimensions,
                            occurred_at=occurred_at, idempotency_key=idempotency_key, mode=mode)
    buffer = getattr(_local, "buffer", None)
    if buffer is not None:
        buffer.append(pending)
        if len(buffer) >= conf.FLUSH_CHUNK * 5:
            usage_flush(buffer)
            buffer.clear()
    else:
        usage_flush([pending])
    return pending


# --- Redis DAU filter -----------------------------------------------------------------------------------

def dau_key(app_id: str, meter: str, day: date, mode: str = "live") -> str:
    return f"billing:dau:{app_id}:{mode}:{meter}:{day.isoformat()}"


def _dau_filter(events: list[Pending]) -> list[Pending]:
    """Drop unique-count events whose subject Redis already saw that day (PostgreSQL saw them too)."""
    unique = [e for e in events if e.aggregation == "unique_count"]
    if not unique:
        return events
    client = redis_client()
    groups: dict[str, list[Pending]] = defaultdict(list)
    for e in unique:
        groups[dau_key(e.app_id, e.meter, e.day, e.mode)].append(e)
    try:
        pipe = client.pipeline(transaction=False)
        for key, members in groups.items():
            pipe.smismember(key, [e.subject for e in members])
        answers = pipe.execute()
    except Exception:  # Redis down: PostgreSQL's unique index still counts each subject once
        return events
    skip = {id(e) for members, hits in zip(groups.values(), answers, strict=True)
            for e, hit in zip(members, hits, strict=True) if hit}
    return [e for e in events if id(e) not in skip]


def _dau_mark_after_commit(marks: list[Pending]) -> None:
    if not marks:
        return
    client = redis_client()

    def mark() -> None:
        try:
            pipe = client.pipeline(transaction=False)
            for e in marks:
                key = dau_key(e.app_id, e.meter, e.day, e.mode)
                pipe.sadd(key, e.subject)
                pipe.expire(key, conf.DAU_MARK_TTL)
            pipe.execute()
        except Exception:  # noqa: S110 - only a cache; PostgreSQL holds the marks
            pass

    transaction.on_commit(mark)


# --- the flush ------------------------------------------------------------------------------------------

def usage_flush(events: list[Pending]) -> int:
    """Write events: insert new ones, refuse a reused key with other content, upsert rollups.

    Returns the number of events that were new. Runs in one transaction (the caller's, if any).
    """
    if not events:
        return 0
    # Deduplicate inside the batch first (same key twice in one batch).
    by_key: dict[tuple[str, str], Pending] = {}
    conflicts: list[str] = []
    for e in events:
        first = by_key.setdefault((e.app_id, e.mode, e.idempotency_key), e)
        if first is not e and first.fingerprint != e.fingerprint:
            conflicts.append(e.idempotency_key)
    if conflicts:
        raise UsageConflict(f"Idempotency key {conflicts[0]!r} was sent twice with different content.",
                            param="idempotency_key", extra={"keys": conflicts[:100]})
    unique_events = _dau_filter(list(by_key.values()))
    with transaction.atomic():
        inserted: list[Pending] = []
        with connection.cursor() as cursor:
            for chunk in chunks(unique_events, conf.FLUSH_CHUNK):
                inserted.extend(_insert_events(cursor, chunk))
            if len(inserted) != len(unique_events):
                _check_conflicts(cursor, unique_events, inserted)
            _upsert_rollups(cursor, inserted)
            marks = [e for e in inserted if e.aggregation == "unique_count"]
            _insert_dau_marks(cursor, marks)
        _dau_mark_after_commit(marks)
    metrics.count_usage(inserted)
    return len(inserted)


_EVENT_COLUMNS = ("id", "tenant_id", "app_id", "meter", "quantity", "subject", "dimensions", "occurred_at",
                  "received_at", "idempotency_key", "fingerprint", "bill_period", "late", "void_reason", "mode",
                  "origin")


def _insert_events(cursor, chunk: list[Pending]) -> list[Pending]:
    fresh = _copy_events(chunk)
    return [e for e in chunk if (e.app_id, e.mode, e.idempotency_key) in fresh]


def _event_row(e: Pending, event_id: str) -> tuple:
    return (event_id, e.tenant_id, e.app_id, e.meter, e.quantity, e.subject, e.dims_key or "{}",
            e.occurred_at, e.received_at, e.idempotency_key, e.fingerprint, e.bill_period, e.late, "", e.mode,
            e.origin)


def _copy_events(chunk: list[Pending]) -> set[tuple[str, str]]:
    """COPY straight into the ledger (the cheapest way in). If any key already
    exists the unique index fails the COPY; we roll back to a savepoint and take the slower
    road for that chunk: COPY into a staging table, then INSERT … ON CONFLICT DO NOTHING
    RETURNING the rows that were new."""
    import psycopg
    from django.db import DatabaseError

    columns = ",".join(_EVENT_COLUMNS)
    ids = new_ids("use", len(chunk))
    rows = [_event_row(e, event_id) for e, event_id in zip(chunk, ids, strict=True)]
    raw = connection.connection  # the psycopg connection, inside Django's current transaction
    try:
        with transaction.atomic(), raw.cursor() as cur, cur.copy(
                f"COPY billing_usageevent ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return {(e.app_id, e.mode, e.idempotency_key) for e in chunk}
    except (DatabaseError, psycopg.errors.UniqueViolation) as exc:
        if "usage_unique_app_mode_key" not in str(exc):
            raise
    with raw.cursor() as cur:
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS billing_usage_stage "
                    "(LIKE billing_usageevent INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
        with cur.copy(f"COPY billing_usage_stage ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(
            f"INSERT INTO billing_usageevent ({columns}) SELECT {columns} FROM billing_usage_stage "  # noqa: S608
            "ON CONFLICT (app_id, mode, idempotency_key) DO NOTHING RETURNING app_id, mode, idempotency_key")
        fresh = {(row[0], row[1], row[2]) for row in cur.fetchall()}
        cur.execute("TRUNCATE billing_usage_stage")
    return fresh


def _check_conflicts(cursor, events: list[Pending], inserted: list[Pending]) -> None:
    new = {(e.app_id, e.mode, e.idempotency_key) for e in inserted}
    old = [e for e in events if (e.app_id, e.mode, e.idempotency_key) not in new]
    conflicts = []
    for chunk in chunks(old, 1000):
        by_app: dict[tuple[str, str], list[str]] = defaultdict(list)
        for e in chunk:
            by_app[(e.app_id, e.mode)].append(e.idempotency_key)
        stored: dict[tuple[str, str, str], str] = {}
        for (app_id, mode), keys in by_app.items():
            cursor.execute(
                "SELECT idempotency_key, fingerprint FROM billing_usageevent WHERE app_id = %s AND mode = %s AND "  # noqa: S608
                "idempotency_key IN (" + ",".join(["%s"] * len(keys)) + ")", [app_id, mode, *keys])
            stored.update({(app_id, mode, k): f for k, f in cursor.fetchall()})
        conflicts += [e.idempotency_key for e in chunk
                      if stored.get((e.app_id, e.mode, e.idempotency_key)) != e.fingerprint]
    if conflicts:
        raise UsageConflict(f"Idempotency key {conflicts[0]!r} was already used with different content.",
                            param="idempotency_key", extra={"keys": conflicts[:100]})


def _upsert_rollups(cursor, inserted: list[Pending]) -> None:
    totals: dict[tuple, list] = {}
    for e in inserted:
        if e.aggregation == "unique_count":
            continue
        key = (e.app_id, e.mode, e.meter, e.day, e.dims_key, e.bill_period)
        row = totals.get(key)
        if row is None:
            totals[key] = [e.tenant_id, e.dimensions, e.quantity, 1, e.quantity]
        else:
            row[2] += e.quantity
            row[3] += 1
            row[4] = max(row[4], e.quantity)
    if not totals:
        return
    ordered = sorted(totals.items(), key=lambda item: tuple(map(str, item[0])))  # lock order: no deadlocks
    import psycopg

    columns = list(zip(*[(tenant_id, app_id, mode, meter, day, dims_key, json.dumps(dims), bill_period, qty, count,
                          top)
                         for (app_id, mode, meter, day, dims_key, bill_period), (tenant_id, dims, qty, count, top)
                         in ordered], strict=True))
    with psycopg.Cursor(connection.connection) as cur:  # server-side binding: 11 array parameters
        cur.execute(
            "INSERT INTO billing_usagedaily (tenant_id, app_id, mode, meter, day, dims_key, dimensions, "
            "bill_period, quantity, events, max_quantity) SELECT * FROM unnest(%s::varchar[], %s::varchar[], "
            "%s::varchar[], %s::varchar[], %s::date[], %s::varchar[], %s::jsonb[], %s::date[], %s::numeric[], "
            "%s::bigint[], %s::numeric[]) "
            "ON CONFLICT (app_id, mode, meter, day, dims_key, bill_period) DO UPDATE SET "
            "quantity = billing_usagedaily.quantity + excluded.quantity, "
            "events = billing_usagedaily.events + excluded.events, "
            "max_quantity = GREATEST(billing_usagedaily.max_quantity, excluded.max_quantity)",
            [list(column) for column in columns])


def _insert_dau_marks(cursor, marks: list[Pending]) -> None:
    if not marks:
        return
    columns = list(zip(*[(e.tenant_id, e.app_id, e.mode, e.meter, e.day, e.subject, e.bill_period)
                         for e in marks], strict=True))
    with pg_cursor() as cur:
        cur.execute(
            "INSERT INTO billing_daumark (tenant_id, app_id, mode, meter, day, subject, bill_period) SELECT * "
            "FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[], %s::date[], %s::varchar[], "
            "%s::date[]) ON CONFLICT (app_id, mode, meter, day, subject) DO NOTHING",
            [list(column) for column in columns])


# --- voiding ------------------------------------------------------------------------------------------------

def usage_void(*, tenant_id: str, event_id: str, reason: str, actor_key_id: str = "",
               actor_user_id: int | None = None, mode: str | None = None, operator: bool = False):
    """Void one event (audited): it stops counting; the row stays. Refused once its invoice is final.

    A tenant (``operator=False``; ``mode`` = its key's mode, another mode's event is a 404) may void
    only usage it reported itself (origin ``tenant``): platform-metered usage is what the platform
    charges for, so only an operator voids it (``billing_admin void-usage``, decision 0822)."""
    from billing.models import DauMark, Invoice, UsageDaily, UsageEvent
    from cpaas.tenants.audit import audit_record

    if not reason.strip():
        raise ApiError("A reason is required to void usage.", param="reason")
    with transaction.atomic():
        events = UsageEvent.objects.select_for_update().filter(tenant_id=tenant_id, pk=event_id)
        if not operator and mode is not None:
            events = events.filter(mode=mode)
        event = events.first()
        if event is None:
            raise ApiError(code="not_found")
        if not operator and event.origin != "tenant":
            raise ApiError("This usage was metered by the platform; only the platform operator can void it. "
                           "Contact support, or void usage your app reported itself.",
                           code="usage_not_voidable", param=None)
        if event.voided_at is not None:
            return event
        if Invoice.objects.filter(tenant_id=tenant_id, period_start=event.bill_period).exclude(
                status__in=["draft", "void"]).exists():
            raise ApiError("The invoice for this usage is finalized; issue a credit note instead.",
                           code="invoice_finalized")
        event.voided_at = timezone.now()
        event.void_reason = reason.strip()[:500]
        event.save(update_fields=["voided_at", "void_reason"])
        meter = meter_get(event.meter)
        day = event.occurred_at.astimezone(UTC).date()
        if meter and meter.aggregation == "unique_count":
            DauMark.objects.filter(app_id=event.app_id, mode=event.mode, meter=event.meter, day=day,
                                   subject=event.subject).delete()
            with contextlib.suppress(Exception):
                redis_client().srem(dau_key(event.app_id, event.meter, day, event.mode), event.subject)
        else:
            dims = event.dimensions
            dims_key = json.dumps(dims, separators=(",", ":"), ensure_ascii=False) if dims else ""
            rollup = UsageDaily.objects.select_for_update().get(
                app_id=event.app_id, mode=event.mode, meter=event.meter, day=day, dims_key=dims_key,
                bill_period=event.bill_period)
            rollup.quantity -= event.quantity
            rollup.events -= 1
            day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            siblings = UsageEvent.objects.filter(
                app_id=event.app_id, mode=event.mode, meter=event.meter, bill_period=event.bill_period,
                voided_at__isnull=True,
                occurred_at__gte=day_start, occurred_at__lt=day_start + timedelta(days=1),
            ).values_list("dimensions", "quantity")
            rollup.max_quantity = max((q for d, q in siblings if (d or {}) == (dims or {})), default=0)
            rollup.save(update_fields=["quantity", "events", "max_quantity"])
        audit_record(tenant_id=tenant_id, action="usage.void", actor_key_id=actor_key_id,
                     actor_user_id=actor_user_id, target_type="usage_event", target_id=event.pk,
                     metadata={"reason": event.void_reason, "meter": event.meter, "quantity": str(event.quantity),
                               "origin": event.origin, "mode": event.mode, "by": "operator" if operator else "tenant"})
    return event
