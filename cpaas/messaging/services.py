"""Writes of the SMS room: accept a send (single or batch), cancel, numbers, settings.

A send is validated completely before anything is written: a rejected message is neither stored
nor queued nor counted. An accepted one is inserted as ``queued`` (or ``scheduled``) in the
caller's transaction, and the dispatcher is woken on commit (pipeline.py takes it from there).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.db.models.base import ModelState
from django.utils import timezone
from django.utils.dateparse import parse_datetime

import billing
from cpaas.core import crypto, egress
from cpaas.core.db import execute_prepared, pg_cursor
from cpaas.core.errors import ApiError
from cpaas.core.scoping import scoped, scoped_get
from cpaas.messaging import conf, encoding, infra, pipeline
from cpaas.messaging.models import (
    Direction,
    Message,
    Mode,
    OptOut,
    PhoneNumber,
    SenderPool,
    SmsSettings,
    Status,
    StickySender,
)
from cpaas.messaging.numbers import is_alphanumeric_sender, looks_like_number, parse_number
from cpaas.tenants.audit import audit_record

SEND_FIELDS = frozenset({"to", "from", "sender_pool", "body", "status_callback", "send_at",
                         "validity_period", "reference", "smart_encoding", "country"})

# --- per-process caches of rarely changing rows (settings, owned numbers) -----------------------

_CACHE_SECONDS = 5.0
_cache_lock = threading.Lock()
_settings_cache: dict[str, tuple[SmsSettings, float]] = {}
_numbers_cache: dict[str, tuple[dict[str, frozenset[str]], float]] = {}


def caches_clear(app_id: str | None = None) -> None:
    infra.counters.clear()
    with _cache_lock:
        if app_id is None:
            _settings_cache.clear()
            _numbers_cache.clear()
        else:
            _settings_cache.pop(app_id, None)
            _numbers_cache.pop(app_id, None)


def sms_settings(app_id: str) -> SmsSettings:
    hit = _settings_cache.get(app_id)
    if hit is not None and time.monotonic() - hit[1] < _CACHE_SECONDS:
        return hit[0]
    row = SmsSettings.objects.filter(app_id=app_id).first() or SmsSettings(app_id=app_id)
    with _cache_lock:
        _settings_cache[app_id] = (row, time.monotonic())
    return row


def owned_numbers(app_id: str, mode: str) -> frozenset[str]:
    """The app's numbers of one mode: a key sends only from numbers of its own mode."""
    hit = _numbers_cache.get(app_id)
    if hit is not None and time.monotonic() - hit[1] < _CACHE_SECONDS:
        return hit[0].get(mode, frozenset())
    rows = list(PhoneNumber.objects.filter(app_id=app_id).values_list("number", "mode"))
    by_mode = {m: frozenset(number for number, row_mode in rows if row_mode == m) for m in ("test", "live")}
    with _cache_lock:
        _numbers_cache[app_id] = (by_mode, time.monotonic())
    return by_mode.get(mode, frozenset())


# --- validating one send ---------------------------------------------------------------------

@dataclass
class Caller:
    tenant_id: str
    app_id: str
    mode: str  # "test" | "live"


def _text(data: dict, name: str, max_length: int) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(f"`{name}` must be a string.", param=name)
    if len(value) > max_length:
        raise ApiError(f"`{name}` must be at most {max_length} characters.", param=name)
    return value


def _send_at(data: dict, now: datetime) -> datetime | None:
    raw = data.get("send_at")
    if raw in (None, ""):
        return None
    when = parse_datetime(raw) if isinstance(raw, str) else None
    if when is None or timezone.is_naive(when):
        raise ApiError("`send_at` must be an ISO 8601 date-time with a time zone.",
                       code="invalid_send_at", param="send_at")
    earliest = now + timedelta(seconds=conf.SEND_AT_MIN_SECONDS)
    latest = now + timedelta(seconds=conf.SEND_AT_MAX_SECONDS)
    if not earliest <= when <= latest:
        raise ApiError("`send_at` must be between 15 minutes and 7 days from now.",
                       code="invalid_send_at", param="send_at")
    return when


def _geo_check(settings_row: SmsSettings, mode: str, country: str) -> None:
    allowed = settings_row.allowed_countries
    if allowed is None:
        if mode == Mode.TEST:
            return
        raise ApiError("Sending to this country is not enabled for this app. Set the app's "
                       "allowed countries first.", code="geo_not_permitted", param="to")
    if country not in allowed:
        raise ApiError(f"Sending to {country or 'this destination'} is not permitted for this app.",
                       code="geo_not_permitted", param="to")


def _sender(caller: Caller, data: dict, to: str) -> tuple[str, str]:
    """(from address, sender pool id)."""
    sender = data.get("from")
    pool_id = data.get("sender_pool")
    if sender not in (None, "") and pool_id not in (None, ""):
        raise ApiError("Give `from` or `sender_pool`, not both.", param="sender_pool")
    if pool_id not in (None, ""):
        if not isinstance(pool_id, str):
            raise ApiError("`sender_pool` must be a sender pool id.", param="sender_pool")
        return _sticky_sender(caller, pool_id, to), pool_id
    if sender in (None, ""):
        raise ApiError("`from` is required (a number the app owns or an alphanumeric sender id), "
                       "or give `sender_pool`.", code="invalid_request", param="from")
    if not isinstance(sender, str):
        raise ApiError("`from` must be a string.", code="invalid_phone_number", param="from")
    if looks_like_number(sender):
        parsed = parse_number(sender, param="from", country=data.get("country") or None)
        if parsed.e164 not in owned_numbers(caller.app_id, caller.mode):
            raise ApiError(f"The number {parsed.e164} is not owned by this app.",
                           code="sender_not_owned", param="from")
        return parsed.e164, ""
    if not is_alphanumeric_sender(sender):
        raise ApiError("`from` must be an E.164 number or an alphanumeric sender id of 1 to 11 "
                       "letters and digits.", code="invalid_phone_number", param="from")
    return sender, ""


def _sticky_sender(caller: Caller, pool_id: str, to: str) -> str:
    pool = scoped(SenderPool, caller).filter(pk=pool_id).first()
    if pool is None:
        raise ApiError("No such sender pool.", code="not_found", param="sender_pool")
    sticky = StickySender.objects.filter(pool=pool, recipient=to).values_list("number", flat=True).first()
    if sticky:
        return sticky
    numbers = sorted(pool.numbers.values_list("number", flat=True))
    if not numbers:
        raise ApiError("This sender pool has no numbers.", code="sender_pool_empty", param="sender_pool")
    choice = numbers[int(hashlib.sha256(to.encode()).hexdigest(), 16) % len(numbers)]
    try:
        with transaction.atomic():
            StickySender.objects.create(pool=pool, recipient=to, number=choice)
    except IntegrityError:
        choice = StickySender.objects.get(pool=pool, recipient=to).number
    return choice


def message_build(caller: Caller, data: Any, *, now: datetime) -> Message:
    """Validate one send and return the unsaved Message. Raises ApiError on the first problem."""
    if not isinstance(data, dict):
        raise ApiError("Each message must be a JSON object.", param=None)
    unknown = sorted(set(data) - SEND_FIELDS)
    if unknown:
        raise ApiError(f"Unknown parameter `{unknown[0]}`.", code="invalid_request", param=unknown[0])
    body = data.get("body")
    if body is None or (isinstance(body, str) and not body.strip()):
        raise ApiError("`body` is required and must not be empty.", code="body_required", param="body")
    if not isinstance(body, str):
        raise ApiError("`body` must be a string.", param="body")
    if data.get("to") in (None, ""):
        raise ApiError("`to` is required.", code="invalid_request", param="to")
    to = parse_number(data["to"], param="to", country=data.get("country") or None)
    sender, pool_id = _sender(caller, data, to.e164)
    smart = data.get("smart_encoding", False)
    if not isinstance(smart, bool):
        raise ApiError("`smart_encoding` must be true or false.", param="smart_encoding")
    info = encoding.segment(body, smart_encoding=smart)
    if info.too_long:
        raise ApiError(f"The body needs {info.segments} segments ({info.encoding}); the limit is "
                       f"{encoding.MAX_SEGMENTS}.", code="body_too_long", param="body")
    send_at = _send_at(data, now)
    validity = data.get("validity_period")
    if validity is not None and (not isinstance(validity, int) or isinstance(validity, bool)
                                 or not 60 <= validity <= 72 * 3600):
        raise ApiError("`validity_period` must be whole seconds from 60 to 259200.", param="validity_period")
    callback = _text(data, "status_callback", 500)
    if callback:
        callback = egress.tenant_url(callback, param="status_callback")
    reference = _text(data, "reference", 100)
    settings_row = sms_settings(caller.app_id)
    _geo_check(settings_row, caller.mode, to.country)
    message = _new_message(
        tenant_id=caller.tenant_id, app_id=caller.app_id, direction=Direction.OUTBOUND,
        mode=caller.mode, to=to.e164, sender=sender, sender_pool=pool_id, country=to.country,
        body=info.body, encoding=info.encoding, segments=info.segments,
        status=Status.SCHEDULED if send_at else Status.QUEUED, send_at=send_at,
        queued_at=None if send_at else now, created_at=now, reference=reference,
        status_callback=callback, validity_period=validity,
    )
    # Live traffic never reaches the sandbox: no live route now is a 400, not a 201 that the
    # sandbox would later "deliver". The routing table is the dispatcher's per-process copy
    # (refreshed every 5 s), so this costs no query per send.
    if caller.mode == Mode.LIVE and not pipeline.route_candidates(message):
        raise ApiError(f"No carrier route serves {to.e164} for live traffic.", code="no_route", param="to")
    return message


_TEMPLATE: dict | None = None


def _new_message(**values) -> Message:
    """An unsaved Message without Model.__init__'s per-field work (a third of a batch's CPU).

    Every concrete field gets its declared default first, exactly as __init__ would; callable
    defaults (the id, lists) are called per message.
    """
    global _TEMPLATE
    if _TEMPLATE is None:
        template, callables = {}, {}
        for field in Message._meta.concrete_fields:
            if field.has_default() and callable(field.default):
                callables[field.attname] = field.default
            else:
                template[field.attname] = field.get_default()
        _TEMPLATE = {"static": template, "callables": callables}
    message = Message.__new__(Message)
    message._state = ModelState()
    state = dict(_TEMPLATE["static"])
    for name, default in _TEMPLATE["callables"].items():
        if name not in values:
            state[name] = default()
    state.update(values)
    message.__dict__.update(state)
    return message


def _opted_out(app_id: str, numbers: list[str]) -> set[str]:
    return set(OptOut.objects.filter(app_id=app_id, number__in=numbers).values_list("number", flat=True))


def _protect(caller: Caller, messages: list[Message], now: datetime) -> list[ApiError | None]:
    """Daily cap and velocity guard on leased shared counters (infra.LeasedCounters): a Redis
    round trip per lease of up to 50 messages, not per message."""
    settings_row = sms_settings(caller.app_id)
    day = now.strftime("%Y%m%d")
    window = int(now.timestamp()) // conf.VELOCITY_WINDOW_SECONDS
    base = f"cpaas:sms:{caller.tenant_id}:{caller.app_id}"
    prefixes = [message.to[: conf.VELOCITY_PREFIX_DIGITS] for message in messages]
    per_prefix: dict[str, int] = {}
    for prefix in prefixes:
        per_prefix[prefix] = per_prefix.get(prefix, 0) + 1
    cap = settings_row.daily_cap
    limit = settings_row.velocity_limit or conf.VELOCITY_LIMIT
    lease, day_lease = infra.counters.lease_size(limit), infra.counters.lease_size(cap)
    keys = [(f"{base}:day:{day}", 2 * 86400, len(messages), day_lease)]
    keys += [(f"{base}:vel:{prefix}:{window}", conf.VELOCITY_WINDOW_SECONDS * 2, count, lease)
             for prefix, count in per_prefix.items()]
    # Counts as they stood before this call, then walk the messages in order.
    starts = infra.counters.take(keys)
    day_count = starts[0]
    prefix_count = dict(zip(per_prefix, starts[1:], strict=True))
    out: list[ApiError | None] = []
    for message, prefix in zip(messages, prefixes, strict=True):
        day_count += 1
        prefix_count[prefix] += 1
        if cap is not None and day_count > cap:
            out.append(ApiError(f"This app reached its daily cap of {cap} messages.",
                                code="daily_cap_reached", param=None))
        elif prefix_count[prefix] > limit:
            # Kept in Redis, not the database: a refused request's transaction is rolled back.
            infra.fraud_log(caller.tenant_id, caller.app_id, {
                "prefix": prefix, "to": message.to, "count": prefix_count[prefix], "at": now.isoformat()})
            out.append(ApiError("Too many messages to numbers with this prefix in a short time; the "
                                "send was blocked as suspected SMS pumping.", code="suspected_fraud",
                                param="to"))
        else:
            out.append(None)
    return out


def _hold(message: Message) -> billing.Hold:
    return billing.Hold(message.id, "sms_segments", message.segments,
                        {"country": message.country, "direction": "outbound"})


def _reserve(caller: Caller, messages: list[Message]) -> list[ApiError | None]:
    """Money before traffic: reserve each live message's estimated price (402 when the prepaid
    balance or the app's spend cap cannot cover it). Test mode and postpaid apps without a cap
    cost nothing; otherwise one Redis round trip for all of them (decision 0820)."""
    if caller.mode != Mode.LIVE:
        return [None] * len(messages)
    return billing.spend_reserve(tenant_id=caller.tenant_id, app_id=caller.app_id, mode=caller.mode,
                                 holds=[_hold(message) for message in messages])


def _release(messages: list[Message]) -> None:
    """Give back the reservations of live messages that will never be sent (refused after
    reserving, canceled)."""
    holds = [(m.tenant_id, m.app_id, m.id, 0) for m in messages if m.mode == Mode.LIVE]
    if holds:
        billing.spend_settle(holds)


def message_send(*, caller: Caller, data: Any) -> Message:
    """Accept one message with one INSERT statement, so the caller need not hold a transaction
    (the API runs it in autocommit: docs/decisions/0405). A sender pool's sticky assignment is a
    second write, so that case opens its own transaction. The money check is the one Redis call
    of :func:`_reserve` (none in test mode or for a postpaid app without a cap)."""
    pooled = isinstance(data, dict) and data.get("sender_pool") not in (None, "")
    with transaction.atomic() if pooled else nullcontext():
        now = timezone.now()
        message = message_build(caller, data, now=now)
        problem = _protect(caller, [message], now)[0]
        if problem is not None:
            raise problem
        problem = _reserve(caller, [message])[0]
        if problem is not None:
            _unprotect(caller, message, now)
            raise problem
        try:
            inserted = _insert_unless_opted_out(message)
        except BaseException:
            _release([message])
            raise
        if not inserted:
            _unprotect(caller, message, now)
            _release([message])
            raise ApiError("This recipient has opted out of messages from this app (replied STOP).",
                           code="recipient_opted_out", param="to")
        if message.status == Status.QUEUED:
            transaction.on_commit(kick_dispatch)
    return message


_INSERT: tuple[str, list[tuple[str, str]]] | None = None


def _insert_unless_opted_out(message: Message) -> bool:
    """INSERT … SELECT … WHERE NOT EXISTS (opt-out): the check and the write in one round trip.

    The row travels as one JSON parameter read by ``jsonb_populate_record``: adapting ~40 separate
    parameters cost more CPU than the rest of the request's own work (bench/profile_sms_send.py).
    """
    global _INSERT
    db = connections[DEFAULT_DB_ALIAS]
    if _INSERT is None:
        table = Message._meta.db_table
        fields = list(Message._meta.concrete_fields)
        sql = (f"INSERT INTO {table} SELECT * FROM jsonb_populate_record(NULL::{table}, %s::jsonb) "  # noqa: S608
               f"WHERE NOT EXISTS (SELECT 1 FROM {OptOut._meta.db_table} WHERE app_id = %s AND number = %s)")
        _INSERT = (sql, [(field.column, field.attname) for field in fields])
    sql, columns = _INSERT
    state = message.__dict__
    # A key left out is NULL, as a null value would be: a shorter document to write and to parse.
    row = json.dumps({column: value for column, attname in columns if (value := state[attname]) is not None},
                     default=infra.json_value)
    with pg_cursor(db) as cursor, db.wrap_database_errors:
        execute_prepared(cursor, sql, [row, message.app_id, message.to])
        return cursor.rowcount == 1


def _unprotect(caller: Caller, message: Message, now: datetime) -> None:
    """Give back the counts of a send refused after counting (an opted-out recipient)."""
    window = int(now.timestamp()) // conf.VELOCITY_WINDOW_SECONDS
    base = f"cpaas:sms:{caller.tenant_id}:{caller.app_id}"
    infra.counters.give_back(f"{base}:day:{now.strftime('%Y%m%d')}")
    infra.counters.give_back(f"{base}:vel:{message.to[: conf.VELOCITY_PREFIX_DIGITS]}:{window}")


@dataclass
class BatchItem:
    index: int
    message: Message | None
    error: ApiError | None


def messages_send_batch(*, caller: Caller, items: Any) -> list[BatchItem]:
    """Accept up to BATCH_MAX messages, each validated on its own; one multi-row INSERT."""
    if not isinstance(items, list) or not items:
        raise ApiError("`messages` must be a non-empty list.", param="messages")
    if len(items) > conf.BATCH_MAX:
        raise ApiError(f"A batch holds at most {conf.BATCH_MAX} messages; this one has {len(items)}.",
                       code="batch_too_large", param="messages")
    now = timezone.now()
    results: list[BatchItem] = []
    for index, data in enumerate(items):
        try:
            results.append(BatchItem(index, message_build(caller, data, now=now), None))
        except ApiError as error:
            error.param = f"messages[{index}].{error.param}" if error.param else f"messages[{index}]"
            results.append(BatchItem(index, None, error))
    valid = [item for item in results if item.message is not None]
    opted = _opted_out(caller.app_id, list({item.message.to for item in valid}))
    for item in valid:
        if item.message.to in opted:
            item.error = ApiError("This recipient has opted out of messages from this app.",
                                  code="recipient_opted_out", param=f"messages[{item.index}].to")
            item.message = None
    valid = [item for item in valid if item.message is not None]
    for item, problem in zip(valid, _protect(caller, [item.message for item in valid], now), strict=True):
        if problem is not None:
            problem.param = f"messages[{item.index}].{problem.param}" if problem.param else None
            item.error, item.message = problem, None
    valid = [item for item in valid if item.message is not None]
    for item, problem in zip(valid, _reserve(caller, [item.message for item in valid]), strict=True):
        if problem is not None:
            _unprotect(caller, item.message, now)
            problem.param = f"messages[{item.index}]"
            item.error, item.message = problem, None
    accepted = [item.message for item in results if item.message is not None]
    try:
        messages_insert(accepted)
    except BaseException:
        _release(accepted)
        raise
    if any(message.status == Status.QUEUED for message in accepted):
        transaction.on_commit(kick_dispatch)
    return results


def messages_insert(messages: list[Message]) -> None:
    """Insert many messages at once with COPY (several times cheaper than the ORM's bulk_create
    at 1,000 rows)."""
    if not messages:
        return
    fields = [field for field in Message._meta.concrete_fields]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    json_fields = {field.attname for field in fields if field.get_internal_type() == "JSONField"}
    names = [field.attname for field in fields]
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY {Message._meta.db_table} ({columns}) FROM STDIN") as copy:
            for message in messages:
                copy.write_row([json.dumps(getattr(message, name)) if name in json_fields
                                else getattr(message, name) for name in names])


def message_estimate(*, caller: Caller, data: Any) -> dict:
    """Segments, encoding and what forced UCS-2, without sending (and without ownership checks)."""
    if not isinstance(data, dict):
        raise ApiError("The body must be a JSON object.")
    unknown = sorted(set(data) - {"body", "smart_encoding", "to", "country"})
    if unknown:
        raise ApiError(f"Unknown parameter `{unknown[0]}`.", code="invalid_request", param=unknown[0])
    body = data.get("body")
    if not isinstance(body, str) or not body.strip():
        raise ApiError("`body` is required and must not be empty.", code="body_required", param="body")
    smart = data.get("smart_encoding", False)
    info = encoding.segment(body, smart_encoding=bool(smart))
    country = None
    price = currency = None
    if data.get("to") not in (None, ""):
        country = parse_number(data["to"], param="to", country=data.get("country") or None).country
        from cpaas.messaging import pricing

        rated = pricing.rate(caller.tenant_id, caller.app_id, country, info.segments)
        if rated is not None:
            price, currency = str(rated[0]), rated[1]
    return {
        "object": "message_estimate",
        "segments": info.segments,
        "encoding": info.encoding,
        "characters": len(info.body),
        "units": info.units,
        "ucs2_characters": list(info.ucs2_characters),
        "body": info.body,
        "too_long": info.too_long,
        "max_segments": encoding.MAX_SEGMENTS,
        "country": country,
        # Rated by billing's plan in effect; null without a destination or a plan.
        "price": price,
        "currency": currency,
    }


def message_cancel(*, caller: Caller, message_id: str) -> Message:
    message = scoped_get(Message, caller, message_id, message="No such message.")
    if not pipeline.transition(message, Status.CANCELED):
        raise ApiError(f"A {message.status} message cannot be canceled; only scheduled or queued ones.",
                       code="message_not_cancelable")
    transaction.on_commit(lambda: _release([message]))
    return message


def kick_dispatch() -> None:
    """Wake a dispatcher soon (after the caller's commit: call through ``transaction.on_commit``)."""
    _kicker.wake(start=True)


def kick_dispatch_now() -> None:
    """Wake a dispatcher unless one was woken and has not started yet (coalesces per-message kicks).

    The flag is cleared by the task as it starts, so a message committed after that sets it again.
    """
    if infra.flag_set_once("cpaas:sms:dispatch:kick", conf.KICK_FLAG_SECONDS):
        from cpaas.messaging.tasks import dispatch

        dispatch.apply_async()


# Kicks go from a daemon thread of this process, so a request never waits on Redis (or the
# broker) for one; kicks asked while one is being sent coalesce into the next. At most one kick
# per conf.KICK_PAUSE_MS per process: their Redis calls are CPU too. A failed kick is logged; the
# beat's safety net (every 30 s) still finds the message.
_kicker = infra.Waker("sms-kicker", kick_dispatch_now, pause=conf.KICK_PAUSE_MS / 1000)


# --- numbers ----------------------------------------------------------------------------------

SANDBOX_PREFIX = "+1500555"


def number_provision_test(*, caller: Caller, number: str | None = None,
                          capabilities: list[str] | None = None) -> PhoneNumber:
    """A sandbox test number, at once: the one asked for if free, else a random free one.

    The range is shared by every tenant, so a tenant holds at most ``SANDBOX_NUMBERS_PER_TENANT``
    (409 ``too_many_numbers``); otherwise one test key could take all 9,000 from the others."""
    capabilities = capabilities or ["sms", "voice"]
    held = PhoneNumber.objects.filter(tenant_id=caller.tenant_id, mode=Mode.TEST).count()
    if held >= settings.SANDBOX_NUMBERS_PER_TENANT:
        raise ApiError(f"This tenant already holds {held} sandbox numbers, the most it may.",
                       code="too_many_numbers", param=None)
    if number is not None:
        parsed = parse_number(number, param="number")
        if not parsed.e164.startswith(SANDBOX_PREFIX) or parsed.e164[len(SANDBOX_PREFIX):] < "1000":
            raise ApiError(f"Test numbers are in the sandbox range {SANDBOX_PREFIX}1000-9999.",
                           code="invalid_phone_number", param="number")
        candidates = [parsed.e164]
    else:
        candidates = [f"{SANDBOX_PREFIX}{secrets.randbelow(9000) + 1000}" for _ in range(20)]
    for candidate in candidates:
        try:
            with transaction.atomic():
                row = PhoneNumber.objects.create(
                    tenant_id=caller.tenant_id, app_id=caller.app_id, number=candidate, country="US",
                    mode=Mode.TEST, capabilities=capabilities, connector="sandbox")
            caches_clear(caller.app_id)
            return row
        except IntegrityError:
            continue
    raise ApiError("That number is taken.", code="number_unavailable", param="number")


def number_assign(*, app, number: str, connector: str, capabilities: list[str] | None = None,
                  country_hint: str | None = None) -> PhoneNumber:
    """The operator gives a live number to an app (management command, admin)."""
    parsed = parse_number(number, param="number", country=country_hint)
    row, _ = PhoneNumber.objects.update_or_create(
        number=parsed.e164,
        defaults={"tenant_id": app.tenant_id, "app_id": app.pk, "country": parsed.country,
                  "mode": Mode.LIVE, "capabilities": capabilities or ["sms"], "connector": connector})
    caches_clear(app.pk)
    return row


def sandbox_numbers_provision(*, app, count: int = 3) -> list[PhoneNumber]:
    """The embedded default's demo app owns a few test numbers."""
    caller = Caller(tenant_id=app.tenant_id, app_id=app.pk, mode=Mode.TEST)
    existing = list(PhoneNumber.objects.filter(app_id=app.pk))
    return existing + [number_provision_test(caller=caller) for _ in range(max(0, count - len(existing)))]


def sender_pool_create(*, caller: Caller, name: str, numbers: list[str]) -> SenderPool:
    rows = list(scoped(PhoneNumber, caller).filter(number__in=numbers))  # numbers of the caller's mode
    found = {row.number for row in rows}
    missing = [number for number in numbers if number not in found]
    if missing:
        raise ApiError(f"The number {missing[0]} is not owned by this app.", code="sender_not_owned",
                       param="numbers")
    pool = SenderPool.objects.create(tenant_id=caller.tenant_id, app_id=caller.app_id, mode=caller.mode, name=name)
    pool.numbers.set(rows)
    return pool


# --- settings ----------------------------------------------------------------------------------

def _set_callback_secret(row: SmsSettings, mode: str) -> str:
    """Give ``row`` a new secret for ``mode`` (stored encrypted, with its hint); the plain secret
    is returned to be shown once, never kept."""
    row.callback_secrets, secret = crypto.mode_secret_new(row.callback_secrets, mode)
    return secret


def callback_secret_hint(row: SmsSettings, mode: str) -> str | None:
    return crypto.mode_secret_hint(row.callback_secrets, mode)


@dataclass(frozen=True)
class SettingsWritten:
    row: SmsSettings
    callback_secret: str | None  # set only when this write created it: shown once


def sms_settings_update(*, caller: Caller, changes: dict) -> SettingsWritten:
    """Apply ``changes``; the first write of a mode also creates that mode's callback secret and
    returns it (the only time it is shown, besides a rotation)."""
    with transaction.atomic():
        row, _ = SmsSettings.objects.select_for_update().get_or_create(app_id=caller.app_id)
        for name, value in changes.items():
            setattr(row, name, value)
        secret = None if caller.mode in row.callback_secrets else _set_callback_secret(row, caller.mode)
        row.save()
    caches_clear(caller.app_id)
    return SettingsWritten(row, secret)


def callback_secret_rotate(*, caller: Caller, actor_key_id: str = "", ip: str | None = None) -> SettingsWritten:
    """A new callback secret for the caller's mode, returned once; the old one stops signing at
    once (decision 0846)."""
    with transaction.atomic():
        row, _ = SmsSettings.objects.select_for_update().get_or_create(app_id=caller.app_id)
        secret = _set_callback_secret(row, caller.mode)
        row.save(update_fields=["callback_secrets"])
        audit_record(tenant_id=caller.tenant_id, action="sms.callback_secret_rotated", actor_key_id=actor_key_id,
                     target_type="app", target_id=caller.app_id, ip=ip,
                     metadata={"mode": caller.mode, "hint": callback_secret_hint(row, caller.mode)})
    caches_clear(caller.app_id)
    return SettingsWritten(row, secret)


def callback_secret(app_id: str, mode: str = Mode.LIVE) -> str:
    """The secret that signs the app's status callbacks of ``mode``, decrypted (for the callback
    sender only).

    An app that sends callbacks before its first settings write gets one here, in the worker; its
    owner sees it by rotating. Reads of the settings never create it.
    """
    row = sms_settings(app_id)
    if mode not in row.callback_secrets:
        with transaction.atomic():
            row, _ = SmsSettings.objects.select_for_update().get_or_create(app_id=app_id)
            if mode not in row.callback_secrets:
                _set_callback_secret(row, mode)
                row.save(update_fields=["callback_secrets"])
        caches_clear(app_id)
    return crypto.decrypt_cached(row.callback_secrets[mode]["secret"])
