"""Writes of the webhooks room: publishing events, endpoints and their secrets, replays, disabling.

Services take the app explicitly, own their transactions where they need one, and never import a
channel (design.md §2).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from cpaas.core import crypto as keyring
from cpaas.core import egress
from cpaas.core.db import chunks, execute_prepared, pg_cursor
from cpaas.core.errors import ApiError
from cpaas.core.ids import new_ids
from cpaas.core.ttlcache import TtlCache
from cpaas.tenants.audit import audit_record
from webhooks import catalog, conf, crypto
from webhooks.models import Attempt, Delivery, Endpoint, Event

log = logging.getLogger(__name__)

KICK_KEY = "webhooks:dispatch-kick"
KICK_LOCAL_SECONDS = 0.5
_kicked_at = -1e9
OPERATIONAL_PREFIXES = ("webhook.", "webhook_endpoint.")
PING = "ping"


# --- publishing -------------------------------------------------------------------------------

class NewEvent(NamedTuple):
    """One event of a :func:`events_publish` batch. ``livemode`` None: the batch's mode (one of
    the two must be stated, docs/decisions/0890)."""

    type: str
    data: dict[str, Any]
    idempotency_key: str
    livemode: bool | None = None


def dispatch_kick() -> None:
    """Start a dispatcher soon; many publishes in a burst enqueue at most one task per second.

    A running dispatcher keeps polling for due rows until it idles, so events published while
    the kick key is still set are picked up by it (or by beat's sweep, in the worst case).
    """
    global _kicked_at
    now = time.monotonic()
    # A kick from this process less than half a second ago started (or found) a dispatcher that
    # polls for at least DISPATCH_IDLE_EXIT_SECONDS more: skip the Redis round trip.
    if now - _kicked_at < KICK_LOCAL_SECONDS:
        return
    _kicked_at = now
    from webhooks.tasks import dispatch

    enqueue_once(KICK_KEY, dispatch, "the webhook dispatcher")


def enqueue_once(key: str, task, what: str) -> None:
    """Enqueue ``task`` unless one was enqueued under ``key`` in the last second (a burst of
    commits starts one task, not one each); beat's sweeps catch whatever a lost kick leaves."""
    if cache.add(key, 1, timeout=1):
        try:
            task.delay()
        except Exception:  # the broker being down must not fail a commit that already happened
            log.exception("could not enqueue %s; beat's sweep will catch up", what)
            cache.delete(key)


_warned_types: set[str] = set()


def _subject(data: dict[str, Any]) -> str:
    value = data.get("id") if isinstance(data, dict) else None
    return value[:200] if isinstance(value, str) else ""


# Which endpoints of an app want what: [(endpoint id, event types or None for all, mode)], cached
# per process for ENDPOINT_CACHE_SECONDS and dropped at once when this process changes an
# endpoint. A stale entry can only miss an endpoint created in another process in the last
# second; a deleted or disabled one is filtered out by the INSERT itself (it joins the table).
_subscriptions: TtlCache[str, list[tuple[str, frozenset[str] | None, str]]] = TtlCache(
    lambda: conf.ENDPOINT_CACHE_SECONDS)


def subscriptions_forget(app_id: str | None = None) -> None:
    if app_id is None:
        _subscriptions.clear()
    else:
        _subscriptions.forget(app_id)


def _subscribed(app_id: str) -> list[tuple[str, frozenset[str] | None, str]]:
    return _subscriptions.get_or_load(app_id, lambda: [
        (pk, frozenset(types) if types else None, mode)
        for pk, types, mode in Endpoint.objects.filter(app_id=app_id, enabled=True)
        .order_by("id").values_list("id", "event_types", "mode")
    ])


def _wants(types: frozenset[str] | None, mode: str, type_: str, livemode: bool) -> bool:
    if mode != ("live" if livemode else "test"):
        return False
    return types is None or type_ in types


def _mode_of(item: NewEvent, livemode: bool | None) -> bool:
    """The event's own mode, else the batch's; neither stated is a programming error, never "both"
    (an unstated mode once reached endpoints of both modes: docs/decisions/0890)."""
    mode = livemode if item.livemode is None else item.livemode
    if not isinstance(mode, bool):
        raise TypeError(f"event {item.type!r} ({item.idempotency_key}) has no mode: pass livemode=True or False")
    return mode


def events_publish(*, app, events: Iterable[NewEvent | tuple], livemode: bool | None,
                   returning: bool = True) -> list[Event] | None:
    """Record Events and one Delivery per matching enabled endpoint, in the caller's transaction.

    ``livemode`` is the batch's mode; None only when every ``NewEvent`` states its own (else
    TypeError). Returns one Event per input, in order (None with ``returning=False``, which skips building
    them). An idempotency key already recorded for the app (or
    repeated in the batch) yields the existing Event and creates nothing. The number of queries
    does not grow with the batch: one lookup of existing keys, one sequence upsert, one
    multi-row event INSERT and one delivery INSERT (per chunk of hundreds), the endpoint list
    from a per-process cache. Sending starts on commit.
    """
    app_id = getattr(app, "pk", app)
    items = [event if isinstance(event, NewEvent) else NewEvent(*event) for event in events]
    if not items:
        return [] if returning else None
    return _publish_pg(app_id, items, livemode, returning)


def _warn_unknown(items: list[NewEvent]) -> None:
    for item in items:
        if item.type not in _warned_types and not catalog.is_known(item.type):
            _warned_types.add(item.type)
            log.warning("publishing an event type missing from the catalog", extra={"event_type": item.type})


# PostgreSQL: the whole batch in one statement (one round trip before the caller's commit):
# skip keys already recorded, reserve per-subject sequence numbers (subjects locked in sorted
# order), insert the events (a key a concurrent publisher just took is skipped), and insert the
# deliveries of the events actually inserted, to endpoints that still exist and are enabled.
_PUBLISH_SQL = """
WITH input AS (
  SELECT i.id, i.type, (%s::jsonb) -> i.ord AS data, i.key, i.subject, i.livemode, i.ord
  FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::bool[], %b::int[])
    AS i(id, type, key, subject, livemode, ord)
), fresh AS (
  SELECT i.* FROM input i WHERE NOT EXISTS (
    SELECT 1 FROM webhooks_event e WHERE e.app_id = %s AND e.idempotency_key = i.key)
), counts AS (
  SELECT subject, count(*) AS n FROM fresh WHERE subject <> '' GROUP BY subject
), seq AS (
  INSERT INTO webhooks_subjectsequence AS t (app_id, subject, value, updated_at)
  SELECT %s, subject, n, %s FROM counts ORDER BY subject
  ON CONFLICT (app_id, subject) DO UPDATE SET value = t.value + excluded.value, updated_at = excluded.updated_at
  RETURNING subject, value
), numbered AS (
  SELECT f.*, CASE WHEN f.subject = '' THEN 0
    ELSE s.value - c.n + row_number() OVER (PARTITION BY f.subject ORDER BY f.ord) END AS sequence
  FROM fresh f LEFT JOIN seq s ON s.subject = f.subject LEFT JOIN counts c ON c.subject = f.subject
), ev AS (
  INSERT INTO webhooks_event (id, app_id, type, data, idempotency_key, subject, sequence, livemode, created_at)
  SELECT id, %s, type, data, key, subject, sequence, livemode, %s FROM numbered ORDER BY ord
  ON CONFLICT (app_id, idempotency_key) DO NOTHING
  RETURNING id, sequence
), dl AS (
  INSERT INTO webhooks_delivery (id, app_id, endpoint_id, event_id, status, attempts, next_attempt_at,
                                 claim_token, manual, last_error, created_at)
  SELECT v.id, %s, v.endpoint_id, v.event_id, 'pending', 0, %s, '', false, '', %s
  FROM unnest(%b::text[], %b::text[], %b::text[]) AS v(id, event_id, endpoint_id)
  JOIN ev ON ev.id = v.event_id
  JOIN webhooks_endpoint e ON e.id = v.endpoint_id AND e.enabled
  RETURNING 1
)
SELECT ev.id, ev.sequence, (SELECT count(*) FROM dl) FROM ev
"""


class _Row(NamedTuple):
    pk: str
    type: str
    data: dict[str, Any]
    idempotency_key: str
    subject: str
    livemode: bool


def _publish_pg(app_id: str, items: list[NewEvent], livemode: bool | None, returning: bool = True
                ) -> list[Event] | None:
    new: dict[str, _Row] = {}
    ids = iter(new_ids("evt", len(items)))  # one batch of ids: a fresh ULID each cost more than its row
    for item in items:
        mode = _mode_of(item, livemode)
        if item.idempotency_key not in new:
            # Plain rows, not Event instances: a model's __init__ was a fifth of an SMS worker's CPU.
            new[item.idempotency_key] = _Row(next(ids), item.type, item.data, item.idempotency_key,
                                             _subject(item.data), mode)
    _warn_unknown(items)
    now = timezone.now()
    subscribed = _subscribed(app_id)
    inserted: dict[str, int] = {}
    kicked = False
    events = list(new.values())
    # Server-side binding (Django's cursor inlines every array element as a quoted literal, which
    # cost half of a batch's time), and prepared: planning this statement cost more than running it
    # (1.2 vs 0.8 ms for one event), on every publish. Its generic plan is the custom one (the
    # idempotency check probes the unique (app_id, idempotency_key) index per input row: the
    # arrays are parameters, estimated at 10 rows whatever their length); decision 0925. The arrays
    # go in binary (``%b``): the text format runs a quoting regular expression over every element.
    with pg_cursor() as cursor:
        for chunk in chunks(events, 1000):
            pairs = [(event.pk, endpoint_id) for event in chunk
                     for endpoint_id, types, mode in subscribed if _wants(types, mode, event.type, event.livemode)]
            execute_prepared(cursor, _PUBLISH_SQL, [
                json.dumps([e.data for e in chunk]),  # one JSON array: a jsonb[] escapes every quote
                [e.pk for e in chunk], [e.type for e in chunk],
                [e.idempotency_key for e in chunk], [e.subject for e in chunk], [e.livemode for e in chunk],
                list(range(len(chunk))),
                app_id, app_id, now, app_id, now,
                app_id, now, now,
                new_ids("dlv", len(pairs)), [p[0] for p in pairs], [p[1] for p in pairs],
            ])
            for pk, sequence, deliveries in cursor.fetchall():
                inserted[pk] = sequence
                kicked = kicked or deliveries > 0
    if kicked:
        transaction.on_commit(dispatch_kick)
    if not returning:
        return None
    found: dict[str, Event] = {}
    for row in events:
        if row.pk in inserted:
            found[row.idempotency_key] = Event(
                id=row.pk, app_id=app_id, type=row.type, data=row.data, idempotency_key=row.idempotency_key,
                subject=row.subject, livemode=row.livemode, sequence=inserted[row.pk], created_at=now)
    missing = [key for key in new if key not in found]  # recorded before (or by a concurrent publish)
    for chunk in chunks(missing, 1000):
        found.update((e.idempotency_key, e) for e in Event.objects.filter(app_id=app_id, idempotency_key__in=chunk))
    return [found[item.idempotency_key] for item in items]


def event_publish(*, app, type: str, data: dict[str, Any], idempotency_key: str, livemode: bool) -> Event:
    """One event: :func:`events_publish` with a batch of one."""
    return events_publish(app=app, events=[NewEvent(type, data, idempotency_key)], livemode=livemode)[0]


def _deliveries_create(event: Event, endpoints: list[Endpoint], now: datetime) -> list[Delivery]:
    if not endpoints:
        return []
    deliveries = Delivery.objects.bulk_create([
        Delivery(app_id=event.app_id, endpoint=endpoint, event=event, next_attempt_at=now,
                 created_at=now)
        for endpoint in endpoints
    ])
    transaction.on_commit(dispatch_kick)
    return deliveries


def payload(event: Event) -> bytes:
    """The body every endpoint receives for ``event`` (the same bytes on every attempt)."""
    return body_bytes(event.id, event.type, event.created_at, event.data, event.subject, event.sequence)


def body_bytes(id: str, type: str, created_at: datetime, data: Any, subject: str = "", sequence: int = 0) -> bytes:
    """``{"id", "type", "created", "data"}`` (and ``subject``, ``sequence`` when there is a
    subject) as compact JSON: the body of a webhook delivery or of a one-off callback, built
    without an Event instance on hot paths."""
    body = {"id": id, "type": type, "created": created_at.isoformat().replace("+00:00", "Z"), "data": data}
    if subject:
        body["subject"] = subject
        body["sequence"] = sequence
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def is_operational(type_: str) -> bool:
    return type_ == PING or type_.startswith(OPERATIONAL_PREFIXES)


# --- endpoints ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class EndpointWithSecret:
    endpoint: Endpoint
    secret: str


def _check_url(url: str, *, live: bool) -> str:
    """The egress's save-time check: a refused address is ``url_not_allowed``, a malformed URL
    (or http in live mode) ``invalid_webhook_url``."""
    return egress.tenant_url(url, param="url", live=live, invalid_code="invalid_webhook_url")


def _check_event_types(types: list[str]) -> list[str]:
    for index, type_ in enumerate(types):
        if not catalog.is_known(type_):
            raise ApiError(
                f"Unknown event type `{type_}`. GET /v1/event-types lists them.",
                code="unknown_event_type", param=f"event_types[{index}]",
            )
    return list(dict.fromkeys(types))


def _secret_entry(secret: str, expires_at: datetime | None = None) -> dict[str, Any]:
    return {"secret": keyring.encrypt(secret), "expires_at": expires_at.isoformat() if expires_at else None}


def endpoint_create(*, app_id: str, mode: str, url: str, description: str = "",
                    event_types: list[str] | None = None, enabled: bool = True,
                    rate_limit: int | None = None, actor_key_id: str = "",
                    tenant_id: str | None = None) -> EndpointWithSecret:
    """Create an endpoint; the returned secret is shown once and only stored encrypted. At most
    ``WEBHOOK_ENDPOINTS_PER_APP`` per app and mode (409 ``too_many_endpoints``)."""
    if Endpoint.objects.filter(app_id=app_id, mode=mode).count() >= conf.ENDPOINTS_PER_APP:
        raise ApiError(f"This app already has {conf.ENDPOINTS_PER_APP} {mode} webhook endpoints, the most it "
                       "may. Delete endpoints you no longer use.", code="too_many_endpoints")
    url = _check_url(url, live=mode == "live")
    types = _check_event_types(event_types or [])
    secret = crypto.secret_generate()
    endpoint = Endpoint.objects.create(
        app_id=app_id, url=url, description=description, event_types=types, enabled=enabled,
        mode=mode, rate_limit=rate_limit, secrets=[_secret_entry(secret)],
    )
    if tenant_id:
        audit_record(tenant_id=tenant_id, action="webhook_endpoint.created", actor_key_id=actor_key_id,
                     target_type="webhook_endpoint", target_id=endpoint.id, metadata={"url": url})
    return EndpointWithSecret(endpoint, secret)


def endpoint_update(*, endpoint: Endpoint, changes: dict[str, Any]) -> Endpoint:
    if "url" in changes:
        changes["url"] = _check_url(changes["url"], live=endpoint.mode == "live")
    if "event_types" in changes:
        changes["event_types"] = _check_event_types(changes["event_types"] or [])
    if changes.get("enabled") is True and not endpoint.enabled:
        changes.update(disabled_at=None, disabled_reason="", failing_since=None)
    for name, value in changes.items():
        setattr(endpoint, name, value)
    endpoint.updated_at = timezone.now()
    endpoint.save()
    return endpoint


def endpoint_delete(*, endpoint: Endpoint, tenant_id: str | None = None, actor_key_id: str = "") -> None:
    endpoint_id, url = endpoint.id, endpoint.url
    endpoint.delete()
    if tenant_id:
        audit_record(tenant_id=tenant_id, action="webhook_endpoint.deleted", actor_key_id=actor_key_id,
                     target_type="webhook_endpoint", target_id=endpoint_id, metadata={"url": url})


def endpoint_rotate_secret(*, endpoint: Endpoint, now: datetime | None = None,
                           tenant_id: str | None = None, actor_key_id: str = "") -> str:
    """A new current secret; the old ones keep signing beside it for 24 h (at most 5 kept)."""
    now = now or timezone.now()
    expires = now + timedelta(seconds=conf.ROTATION_OVERLAP_SECONDS)
    old = []
    for entry in endpoint.secrets:
        until = entry.get("expires_at")
        if until is None:
            old.append({**entry, "expires_at": expires.isoformat()})
        elif datetime.fromisoformat(until) > now:
            old.append(entry)
    old.sort(key=lambda entry: entry["expires_at"], reverse=True)
    secret = crypto.secret_generate()
    endpoint.secrets = [_secret_entry(secret), *old[: conf.MAX_OLD_SECRETS]]
    endpoint.updated_at = now
    endpoint.save(update_fields=["secrets", "updated_at"])
    if tenant_id:
        audit_record(tenant_id=tenant_id, action="webhook_endpoint.secret_rotated",
                     actor_key_id=actor_key_id, target_type="webhook_endpoint", target_id=endpoint.id)
    return secret


_plain_secrets: dict[str, str] = {}


def active_secrets(endpoint: Endpoint, now: datetime | None = None) -> list[str]:
    """The secrets that sign a delivery now, current first (decrypted, cached by ciphertext)."""
    now = now or timezone.now()
    out = []
    for entry in endpoint.secrets:
        until = entry.get("expires_at")
        if until is not None and datetime.fromisoformat(until) <= now:
            continue
        token = entry["secret"]
        plain = _plain_secrets.get(token)
        if plain is None:
            if len(_plain_secrets) > 10_000:
                _plain_secrets.clear()
            plain = _plain_secrets[token] = keyring.decrypt(token)
        out.append(plain)
    return out


# --- replay, recover, ping ----------------------------------------------------------------------

def delivery_retry(*, delivery: Delivery, now: datetime | None = None) -> Delivery:
    """Send a delivery again now (one attempt, same webhook-id), whatever its state."""
    now = now or timezone.now()
    if not delivery.endpoint.enabled:
        raise ApiError("The endpoint is disabled; enable it first.", code="endpoint_disabled")
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.PENDING, next_attempt_at=now, manual=True, claim_token="",
        completed_at=None,
    )
    transaction.on_commit(dispatch_kick)
    delivery.refresh_from_db()
    return delivery


def endpoint_recover(*, endpoint: Endpoint, since: datetime, until: datetime | None = None,
                     dry_run: bool = False, now: datetime | None = None) -> int:
    """Re-send every failed delivery of ``endpoint`` created in ``[since, until)``; returns how many."""
    now = now or timezone.now()
    failed = Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.FAILED, created_at__gte=since)
    if until is not None:
        failed = failed.filter(created_at__lt=until)
    if dry_run:
        return failed.count()
    if not endpoint.enabled:
        raise ApiError("The endpoint is disabled; enable it first.", code="endpoint_disabled")
    count = failed.update(status=Delivery.Status.PENDING, next_attempt_at=now, manual=True,
                          claim_token="", completed_at=None)
    if count:
        transaction.on_commit(dispatch_kick)
    return count


def endpoint_ping(*, endpoint: Endpoint, now: datetime | None = None) -> Delivery:
    """Send a ``ping`` event to this endpoint only, through the same guarded dispatcher."""
    now = now or timezone.now()
    event = Event.objects.create(
        app_id=endpoint.app_id, type=PING, created_at=now,
        data={"endpoint_id": endpoint.id, "message": "This is a test event from cpaas."},
        idempotency_key=f"ping:{endpoint.id}:{now.timestamp()}:{crypto.secret_generate()[-8:]}",
        livemode=endpoint.mode == "live",
    )
    return _deliveries_create(event, [endpoint], now)[0]


# --- disabling ----------------------------------------------------------------------------------

def endpoint_disable(*, endpoint_id: str, reason: str, now: datetime | None = None) -> bool:
    """Disable an endpoint (reason "failing" or "gone"), fail what it still owes, tell the tenant.

    Conditional: disabling twice has one effect. Returns whether this call disabled it.
    """
    now = now or timezone.now()
    with transaction.atomic():
        changed = Endpoint.objects.filter(pk=endpoint_id, enabled=True).update(
            enabled=False, disabled_at=now, disabled_reason=reason, updated_at=now
        )
        if not changed:
            return False
        endpoint = Endpoint.objects.select_related("app").get(pk=endpoint_id)
        subscriptions_forget(endpoint.app_id)
        Delivery.objects.filter(endpoint_id=endpoint_id, status=Delivery.Status.PENDING).update(
            status=Delivery.Status.FAILED, next_attempt_at=None, claim_token="", completed_at=now,
            last_error="endpoint disabled",
        )
        event_publish(
            app=endpoint.app_id, type="webhook_endpoint.disabled",
            data={"endpoint_id": endpoint.id, "url": endpoint.url, "reason": reason,
                  "failing_since": endpoint.failing_since.isoformat() if endpoint.failing_since else None},
            idempotency_key=f"webhook_endpoint.disabled:{endpoint.id}:{now.isoformat()}",
            livemode=endpoint.mode == "live",
        )
        audit_record(tenant_id=endpoint.app.tenant_id, action="webhook_endpoint.disabled",
                     target_type="webhook_endpoint", target_id=endpoint.id,
                     metadata={"reason": reason, "url": endpoint.url})
    return True


def endpoints_disable_failing(*, now: datetime | None = None) -> int:
    """Disable endpoints whose deliveries have kept exhausting their retries for 5 days."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=conf.DISABLE_AFTER_DAYS)
    ids = list(Endpoint.objects.filter(enabled=True, failing_since__lte=cutoff).values_list("id", flat=True))
    return sum(endpoint_disable(endpoint_id=endpoint_id, reason="failing", now=now) for endpoint_id in ids)


# --- retention ------------------------------------------------------------------------------------

def events_purge(*, now: datetime | None = None, batch: int = 2000) -> int:
    """Delete events (with their deliveries and attempts) older than the retention period."""
    from webhooks.models import SubjectSequence

    now = now or timezone.now()
    cutoff = now - timedelta(days=conf.RETENTION_DAYS)
    total = 0
    while True:
        ids = list(Event.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:batch])
        if not ids:
            break
        with transaction.atomic():
            delivery_ids = Delivery.objects.filter(event_id__in=ids).values_list("pk", flat=True)
            Attempt.objects.filter(delivery_id__in=delivery_ids).delete()
            Delivery.objects.filter(event_id__in=ids).delete()
            total += Event.objects.filter(pk__in=ids).delete()[0]
    SubjectSequence.objects.filter(updated_at__lt=cutoff).delete()
    return total
