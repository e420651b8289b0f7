"""Status writes of calls and legs: conditional UPDATE, timeline entry, event, usage — one transaction.

Every function here is synchronous (the engine runs them in its database threads) and returns
None when the transition is not allowed from the row's current state, so a doubled or late
network event changes nothing and publishes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

import billing
import webhooks
from cpaas.voice import states
from cpaas.voice.models import Call, CallLeg, CallLogEntry
from cpaas.voice.serializers import _iso
from cpaas.voice.signing import callback_channel


def call_event_data(call: Call) -> dict[str, Any]:
    return {
        "call_id": call.id, "kind": call.kind, "status": call.status, "to": call.to,
        "from": call.from_number, "livemode": call.mode == "live",
        "initiated_at": _iso(call.initiated_at), "answered_at": _iso(call.answered_at),
        "ended_at": _iso(call.ended_at), "duration": call.duration_seconds,
        "hangup_cause": call.hangup_cause, "error_code": call.error_code,
    }


def status_callback_key(call_id: str, status: str) -> str:
    """The callback outbox key of a call's status callback for one status (at most one each)."""
    return f"{call_id}:{status}:status_callback"


def status_callback_data(call: Call, event: str) -> dict[str, Any]:
    """What a call's ``status_callback`` receives as ``data``: the call's event data plus the
    fields a call-control fetch carries (``call_status``, ``event``, ``app_id``, ``direction``)."""
    return {**call_event_data(call), "app_id": call.app_id, "direction": call.direction,
            "call_status": call.status, "event": event}


def leg_event_data(leg: CallLeg) -> dict[str, Any]:
    return {
        "call_id": leg.call_id, "leg_id": leg.id, "role": leg.role, "status": leg.status,
        "to": leg.to, "from": leg.from_number, "initiated_at": _iso(leg.initiated_at),
        "ringing_at": _iso(leg.ringing_at), "answered_at": _iso(leg.answered_at),
        "ended_at": _iso(leg.ended_at), "ring_seconds": leg.ring_seconds,
        "duration": leg.duration_seconds, "billable_seconds": leg.billable_seconds,
        "hangup_cause": leg.hangup_cause, "hangup_by": leg.hangup_by, "sip_code": leg.sip_code,
    }


def _update_returning(model: type[models.Model], pk: str, allowed: frozenset[str], fields: dict[str, Any]):
    """``UPDATE … WHERE id = pk AND status IN (allowed) RETURNING *``: the conditional write and the
    re-read in one round trip (PostgreSQL, and SQLite ≥ 3.35). None when the state table refused."""
    if not allowed:
        return None
    quote = connection.ops.quote_name
    sets, params = [], []
    for name, value in fields.items():
        field = model._meta.get_field(name)
        sets.append(f"{quote(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    states_sql = ", ".join(["%s"] * len(allowed))
    # Only quoted column names and placeholders are interpolated; every value is a parameter.
    sql = (f"UPDATE {quote(model._meta.db_table)} SET {', '.join(sets)} "  # noqa: S608
           f"WHERE {quote('id')} = %s AND {quote('status')} IN ({states_sql}) RETURNING *")
    rows = list(model.objects.raw(sql, [*params, pk, *sorted(allowed)]))
    return rows[0] if rows else None


def call_livemode(call_id: str) -> bool:
    """Whether a call is live (webhooks reach endpoints of its mode only), for the rare caller
    that does not hold the call; the engine passes ``call.mode == "live"`` instead."""
    return Call.objects.filter(pk=call_id).values_list("mode", flat=True).first() == "live"


def call_transition(call_id: str, new: str, *, at: datetime, **fields) -> dict[str, Any] | None:
    """Move a call to ``new``; publish ``call.<event>``. Returns the event data, or None if refused."""
    fields = {**fields, "updated_at": timezone.now()}
    # savepoint=False: inside a caller's transaction (the engine's group commit) a savepoint per
    # write would cost two round trips; a failure rolls back the caller's unit of work anyway.
    with transaction.atomic(savepoint=False):
        # The timeline shows status changes from the CDR timestamps; no log row per transition.
        call = _update_returning(Call, call_id, states.previous(new), {"status": new, **fields})
        if call is None:
            return None
        event = states.EVENT_FOR_STATUS[new]
        data = call_event_data(call)
        webhooks.publish(call.app_id, f"call.{event}", data, idempotency_key=f"{call.id}:{new}",
                         livemode=call.mode == "live")
        if new == states.FAILED:
            _publish_failed(call, data)
        if call.status_callback and event in call.status_events:
            # Durable: recorded with the transition, delivered and retried by the webhooks worker.
            webhooks.send_callback(call.app_id, call.status_callback, f"call.{event}",
                                   status_callback_data(call, event),
                                   idempotency_key=status_callback_key(call.id, new),
                                   channel=callback_channel(call.mode, call.dialect))
    return data


def _publish_failed(call: Call, data: dict[str, Any]) -> None:
    """``call.failed`` beside ``call.completed`` (decision 1142): the same data plus the SIP code of
    the call's first leg (None when no leg reached the network, e.g. ``engine_lost``). The leg ends
    before the call, so its CDR is already written."""
    sip_code = CallLeg.objects.filter(call_id=call.id, role="a").values_list("sip_code", flat=True).first()
    webhooks.publish(call.app_id, "call.failed", {**data, "sip_code": sip_code},
                     idempotency_key=f"{call.id}:failed:event", livemode=call.mode == "live")


def leg_transition(leg_id: str, new: str, *, at: datetime, publish: bool = True,
                   livemode: bool | None = None, **fields) -> dict[str, Any] | None:
    """Move a leg to ``new``; publish ``call.leg.<event>``; a final answered leg records its usage.

    ``publish=False`` skips the event of a non-final move (leg A of a call, whose ``call.*`` event
    says the same); a final move always publishes ``call.leg.completed`` with the CDR.
    ``livemode``: the call's mode, which callers holding the call pass (else it is looked up).
    """
    with transaction.atomic(savepoint=False):
        leg = _update_returning(CallLeg, leg_id, states.previous(new), {"status": new, **fields})
        if leg is None:
            return None
        data = leg_event_data(leg)
        if (publish or new in states.FINAL) and livemode is None:
            livemode = call_livemode(leg.call_id)
        if publish or new in states.FINAL:
            webhooks.publish(leg.app_id, f"call.leg.{states.EVENT_FOR_STATUS[new]}", data,
                             idempotency_key=f"{leg.id}:{new}", livemode=livemode)
        if new in states.FINAL and leg.billable_seconds > 0:
            direction = Call.objects.filter(pk=leg.call_id).values_list("direction", flat=True).first()
            billing.record_usage(
                leg.app_id, "voice_seconds", leg.billable_seconds,
                dimensions={"direction": direction or "outbound", "country": leg.country, "leg": leg.role},
                occurred_at=leg.ended_at or at, idempotency_key=f"voice_seconds:{leg.id}",
                mode="live" if livemode else "test",
            )
        if new in states.FINAL and livemode:
            _settle_leg(leg)
    return data


def _settle_leg(leg: CallLeg) -> None:
    """Money: the leg's hold (reserved when the call was accepted) becomes its real cost, after
    this transaction commits (decision 0820)."""
    app_id, hold_id, seconds = leg.app_id, f"{leg.call_id}:{leg.role}", leg.billable_seconds
    dims = {"direction": "outbound", "country": leg.country, "leg": leg.role}
    transaction.on_commit(lambda: billing.spend_settle_usage(app_id, hold_id=hold_id, meter="voice_seconds",
                                                             quantity=seconds, dimensions=dims))


def log_entry(call_id: str, app_id: str, kind: str, message: str, *, at: datetime, level: str = "info",
              leg_id: str | None = None, detail: dict | None = None) -> None:
    CallLogEntry.objects.create(app_id=app_id, call_id=call_id, leg_id=leg_id, kind=kind, level=level,
                                message=message[:500], detail=detail or {}, at=at)


def call_error(call_id: str, app_id: str, *, code: str, message: str, at: datetime,
               url: str = "", line: int | None = None, livemode: bool | None = None) -> None:
    """A call-control problem: the debugger log and a ``call.error`` event, in one transaction."""
    with transaction.atomic():
        count = CallLogEntry.objects.filter(call_id=call_id, level="error").count()
        log_entry(call_id, app_id, "error", message, at=at, level="error",
                  detail={"code": code, "url": url, "line": line})
        Call.objects.filter(pk=call_id, error_code="").update(error_code=code, error_message=message[:500])
        webhooks.publish(app_id, "call.error",
                         {"call_id": call_id, "code": code, "message": message, "url": url, "line": line},
                         idempotency_key=f"{call_id}:error:{count}",
                         livemode=call_livemode(call_id) if livemode is None else livemode)
