"""Writes of the webhooks room: publishing events, endpoints and their secrets, replays, disabling.

Services take the app explicitly, own their transactions where they need one, and never import a
channel (design.md §2).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from cpaas.core.errors import ApiError
from cpaas.tenants.audit import audit_record
from webhooks import catalog, conf, crypto, ssrf
from webhooks.models import Attempt, Delivery, Endpoint, Event

log = logging.getLogger(__name__)

KICK_KEY = "webhooks:dispatch-kick"
OPERATIONAL_PREFIXES = ("webhook.", "webhook_endpoint.")
PING = "ping"


# --- publishing -------------------------------------------------------------------------------

def dispatch_kick() -> None:
    """Start a dispatcher soon; many publishes in a burst enqueue at most one task per second.

    A running dispatcher keeps polling for due rows until it idles, so events published while
    the kick key is still set are picked up by it (or by beat's sweep, in the worst case).
    """
    if cache.add(KICK_KEY, 1, timeout=1):
        from webhooks.tasks import dispatch

        try:
            dispatch.delay()
        except Exception:  # the broker being down must not fail a commit that already happened
            log.exception("could not enqueue the webhook dispatcher; beat's sweep will catch up")
            cache.delete(KICK_KEY)


_warned_types: set[str] = set()


def _subject(data: dict[str, Any]) -> str:
    value = data.get("id") if isinstance(data, dict) else None
    return value[:200] if isinstance(value, str) else ""


def _next_sequence(app_id: str, subject: str, now: datetime) -> int:
    # One statement on PostgreSQL and SQLite alike; the row lock it takes serialises publishes of
    # the same subject until the caller commits, so sequences follow commit order per subject.
    table = "webhooks_subjectsequence"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (app_id, subject, value, updated_at) VALUES (%s, %s, 1, %s) "  # noqa: S608
            f"ON CONFLICT (app_id, subject) DO UPDATE SET value = {table}.value + 1, "
            "updated_at = excluded.updated_at RETURNING value",
            [app_id, subject, now],
        )
        return int(cursor.fetchone()[0])


def _insert_new(event: Event) -> bool:
    """INSERT … ON CONFLICT DO NOTHING: no savepoint round trips on the hot path (PG and SQLite)."""
    fields = Event._meta.concrete_fields
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    values = [field.get_db_prep_save(getattr(event, field.attname), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(Event._meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))}) "  # noqa: S608
            "ON CONFLICT (app_id, idempotency_key) DO NOTHING RETURNING id",
            values,
        )
        return cursor.fetchone() is not None


def event_publish(*, app, type: str, data: dict[str, Any], idempotency_key: str) -> Event:
    """Record an Event and one Delivery per matching enabled endpoint, in the caller's transaction.

    Sending starts on commit. The same ``idempotency_key`` for the same app records the event
    once (and creates its deliveries once).
    """
    app_id = getattr(app, "pk", app)
    existing = Event.objects.filter(app_id=app_id, idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    if type not in _warned_types and not catalog.is_known(type):
        _warned_types.add(type)
        log.warning("publishing an event type missing from the catalog", extra={"event_type": type})
    now = timezone.now()
    subject = _subject(data)
    sequence = _next_sequence(app_id, subject, now) if subject else 0
    event = Event(app_id=app_id, type=type, data=data, idempotency_key=idempotency_key,
                  subject=subject, sequence=sequence, created_at=now)
    if not _insert_new(event):  # a concurrent publish with the same key won
        return Event.objects.get(app_id=app_id, idempotency_key=idempotency_key)
    endpoints = [e for e in Endpoint.objects.filter(app_id=app_id, enabled=True) if e.wants(type)]
    _deliveries_create(event, endpoints, now)
    return event


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
    body = {
        "id": event.id,
        "type": event.type,
        "created": event.created_at.isoformat().replace("+00:00", "Z"),
        "data": event.data,
    }
    if event.subject:
        body["subject"] = event.subject
        body["sequence"] = event.sequence
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def is_operational(type_: str) -> bool:
    return type_ == PING or type_.startswith(OPERATIONAL_PREFIXES)


# --- endpoints ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class EndpointWithSecret:
    endpoint: Endpoint
    secret: str


def _check_url(url: str, *, live: bool) -> str:
    try:
        return ssrf.validate_url(url, live=live)
    except ssrf.UnsafeUrl as exc:
        raise ApiError(f"`url` {exc}.", code="invalid_webhook_url", param="url") from None


def _check_event_types(types: list[str]) -> list[str]:
    for index, type_ in enumerate(types):
        if not catalog.is_known(type_):
            raise ApiError(
                f"Unknown event type `{type_}`. GET /v1/event-types lists them.",
                code="unknown_event_type", param=f"event_types[{index}]",
            )
    return list(dict.fromkeys(types))


def _secret_entry(secret: str, expires_at: datetime | None = None) -> dict[str, Any]:
    return {"secret": crypto.encrypt(secret), "expires_at": expires_at.isoformat() if expires_at else None}


def endpoint_create(*, app_id: str, mode: str, url: str, description: str = "",
                    event_types: list[str] | None = None, enabled: bool = True,
                    rate_limit: int | None = None, actor_key_id: str = "",
                    tenant_id: str | None = None) -> EndpointWithSecret:
    """Create an endpoint; the returned secret is shown once and only stored encrypted."""
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
            plain = _plain_secrets[token] = crypto.decrypt(token)
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
        Delivery.objects.filter(endpoint_id=endpoint_id, status=Delivery.Status.PENDING).update(
            status=Delivery.Status.FAILED, next_attempt_at=None, claim_token="", completed_at=now,
            last_error="endpoint disabled",
        )
        event_publish(
            app=endpoint.app_id, type="webhook_endpoint.disabled",
            data={"endpoint_id": endpoint.id, "url": endpoint.url, "reason": reason,
                  "failing_since": endpoint.failing_since.isoformat() if endpoint.failing_since else None},
            idempotency_key=f"webhook_endpoint.disabled:{endpoint.id}:{now.isoformat()}",
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
