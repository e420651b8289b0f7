"""Writes of the SMS room: accept a send (single or batch), estimate, cancel, the app's settings.

Stage ``services.message_send`` of docs/architecture.md ("One SMS, from the API to the carrier and
back"): a send validated completely (validation.py) is counted against the app's caps, its price
reserved, and inserted as ``queued`` (or ``scheduled``); the dispatcher is woken on commit
(kicks.py), and dispatch.py takes it from there.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

import billing
from cpaas.core.errors import ApiError
from cpaas.core.scoping import scoped, scoped_get
from cpaas.messaging import conf, encoding, infra, pricing, queries
from cpaas.messaging.announce import transition
from cpaas.messaging.app_settings import caches_clear, callback_secret_hint, callback_secret_new, sms_settings
from cpaas.messaging.kicks import kick_dispatch
from cpaas.messaging.models import Message, Mode, OptOut, SmsSettings, Status
from cpaas.messaging.numbers import parse_number
from cpaas.messaging.states import FINAL
from cpaas.messaging.validation import Caller, message_build
from cpaas.tenants.audit import audit_record


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
    cost nothing; otherwise at most one Redis round trip for all of them (decision 0820), none
    while this process's leased slice of the money covers them (decision 1000)."""
    if caller.mode != Mode.LIVE:
        return [None] * len(messages)
    return billing.spend_reserve(tenant_id=caller.tenant_id, app_id=caller.app_id, mode=caller.mode,
                                 holds=[_hold(message) for message in messages])


def message_release(messages: list[Message]) -> None:
    """Give back the reservations of live messages that will never be sent (refused after
    reserving, canceled)."""
    holds = [(m.tenant_id, m.app_id, m.id, 0) for m in messages if m.mode == Mode.LIVE]
    if holds:
        billing.spend_settle(holds)


def message_send(*, caller: Caller, data: Any, dialect: str = "") -> Message:
    """Accept one message with one INSERT statement, so the caller need not hold a transaction
    (the API runs it in autocommit: docs/decisions/0405). A sender pool's sticky assignment is a
    second write, so that case opens its own transaction. The money check is at most one Redis
    call, in :func:`_reserve` (none in test mode, for a postpaid app without a cap, or while the
    process's slice of a prepaid balance covers the send). ``dialect``: the shape of the
    message's status callbacks ("" ours; "twilio" for the Twilio-compatible API). The lean send
    path (cpaas/messaging/accept/) runs the same stages with a group commit for the INSERT."""
    with transaction.atomic() if is_pooled(data) else nullcontext():
        now = timezone.now()
        message = message_accept(caller=caller, data=data, now=now, dialect=dialect)
        try:
            inserted = queries.message_insert_unless_opted_out(message)
        except BaseException:
            message_release([message])
            raise
        if not inserted:
            raise message_opted_out(caller, message, now)
        if message.status == Status.QUEUED:
            transaction.on_commit(kick_dispatch)
    return message


def is_pooled(data: Any) -> bool:
    """Whether a send names a sender pool (its sticky assignment is a write of its own)."""
    return isinstance(data, dict) and data.get("sender_pool") not in (None, "")


def message_accept(*, caller: Caller, data: Any, now: datetime, dialect: str = "") -> Message:
    """Everything before a send's INSERT: validated (validation.py), counted against the app's caps,
    its price reserved. Raises the first problem; the unsaved message otherwise, whose counts and
    reservation the caller gives back (:func:`message_opted_out`, :func:`message_release`) if the
    INSERT does not happen."""
    message = message_build(caller, data, now=now, dialect=dialect)
    problem = _protect(caller, [message], now)[0]
    if problem is not None:
        raise problem
    problem = _reserve(caller, [message])[0]
    if problem is not None:
        _unprotect(caller, message, now)
        raise problem
    return message


def message_opted_out(caller: Caller, message: Message, now: datetime) -> ApiError:
    """The refusal of an accepted send whose INSERT found the recipient opted out; gives back its
    counts and reservation first."""
    _unprotect(caller, message, now)
    message_release([message])
    return ApiError("This recipient has opted out of messages from this app (replied STOP).",
                    code="recipient_opted_out", param="to")


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
        queries.messages_copy(accepted)
    except BaseException:
        message_release(accepted)
        raise
    if any(message.status == Status.QUEUED for message in accepted):
        transaction.on_commit(kick_dispatch)
    return results



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
    if not transition(message, Status.CANCELED):
        raise ApiError(f"A {message.status} message cannot be canceled; only scheduled or queued ones.",
                       code="message_not_cancelable")
    transaction.on_commit(lambda: message_release([message]))
    return message


def message_delete(*, caller: Caller, message_id: str) -> None:
    """Delete a message that reached a final status (the Twilio-compatible API's DELETE); one still
    on its way is 409 ``message_not_deletable``. Events and callbacks already recorded keep their
    own copies."""
    message = scoped_get(Message, caller, message_id, message="No such message.")
    if message.status not in FINAL:
        raise ApiError(f"A {message.status} message cannot be deleted before its delivery is over.",
                       code="message_not_deletable")
    scoped(Message, caller).filter(pk=message.pk, status__in=FINAL).delete()


# --- settings ----------------------------------------------------------------------------------

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
        secret = None if caller.mode in row.callback_secrets else callback_secret_new(row, caller.mode)
        row.save()
    caches_clear(caller.app_id)
    return SettingsWritten(row, secret)


def callback_secret_rotate(*, caller: Caller, actor_key_id: str = "", ip: str | None = None) -> SettingsWritten:
    """A new callback secret for the caller's mode, returned once; the old one stops signing at
    once (decision 0846)."""
    with transaction.atomic():
        row, _ = SmsSettings.objects.select_for_update().get_or_create(app_id=caller.app_id)
        secret = callback_secret_new(row, caller.mode)
        row.save(update_fields=["callback_secrets"])
        audit_record(tenant_id=caller.tenant_id, action="sms.callback_secret_rotated", actor_key_id=actor_key_id,
                     target_type="app", target_id=caller.app_id, ip=ip,
                     metadata={"mode": caller.mode, "hint": callback_secret_hint(row, caller.mode)})
    caches_clear(caller.app_id)
    return SettingsWritten(row, secret)
