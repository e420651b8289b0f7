"""Inbound calls: a call the network offers to one of our numbers becomes a call row, or is refused.

The SIP worker asks ``inbound_call_create`` while the caller's INVITE waits (it has sent 100
Trying): the number must be a live number of an app with the ``voice`` capability, inbound
enabled and a ``voice_url``; anything else is refused (SIP 404) and no row is written. The call
is created already claimed by the engine of the worker that holds the INVITE, so no other engine
ever dials it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

import billing
from cpaas.core.errors import ApiError
from cpaas.messaging.models import PhoneNumber
from cpaas.sip_edge.models import SipEndpoint
from cpaas.voice import states
from cpaas.voice.models import Call, CallKind, CallLeg
from cpaas.voice.numbers import country_of, normalize_e164

RESERVED_SECONDS = 60


@dataclass(frozen=True)
class Refused:
    """Why an inbound call is not taken, and the SIP code that says so."""

    sip_code: int
    reason: str


def inbound_call_create(*, to: str, from_: str, engine: str) -> tuple[str, str] | Refused:
    """(call id, leg id) of the new inbound call to ``to`` from ``from_``, or ``Refused``."""
    number = (PhoneNumber.objects.filter(number=to, mode="live", inbound_enabled=True)
              .exclude(voice_url="").first())
    if number is None or "voice" not in number.capabilities:
        return Refused(404, "no live voice number with a voice_url")
    now = timezone.now()
    call = Call(tenant_id=number.tenant_id, app_id=number.app_id, mode=number.mode, kind=CallKind.CALL,
                direction="inbound", to=to, from_number=from_, url=number.voice_url,
                fallback_url=number.voice_fallback_url, status_events=list(states.STATUS_EVENTS),
                claimed_by=engine, claimed_at=now)
    return _create(call, country_of(from_))


def endpoint_call_create(*, endpoint: dict[str, str], to: str, engine: str) -> tuple[str, str] | Refused:
    """(call id, leg id) of a call a registered SIP endpoint places to the number ``to`` (the edge
    said which endpoint, app and mode: ``X-Cpaas-*``), or ``Refused``. Decision 1141: the endpoint's
    app dials the number through its trunk routes with the endpoint's ``caller_id`` — the call runs
    ``<Dial callerId=…><Number>to</Number></Dial>``; test-mode endpoints are refused (1120)."""
    if endpoint.get("mode") != "live":
        return Refused(404, "test-mode endpoints reach only endpoints")
    row = SipEndpoint.objects.filter(pk=endpoint.get("id", ""), app_id=endpoint.get("app", ""), mode="live",
                                     enabled=True).first()
    if row is None:
        return Refused(404, "no such live endpoint")
    try:
        to = normalize_e164(to, param="to")
    except ApiError:
        return Refused(404, "not a phone number")
    if not row.caller_id:
        return Refused(403, "the endpoint has no caller_id to call the phone network with")
    now = timezone.now()
    document = f'<Response><Dial callerId="{row.caller_id}"><Number>{to}</Number></Dial></Response>'
    call = Call(tenant_id=row.tenant_id, app_id=row.app_id, mode="live", kind=CallKind.CALL,
                direction="inbound", to=to, from_number=row.caller_id, instructions=document,
                status_events=list(states.STATUS_EVENTS), claimed_by=engine, claimed_at=now)
    return _create(call, country_of(row.caller_id))


def _create(call: Call, country: str) -> tuple[str, str] | Refused:
    """The call and its leg A, after the app's balance holds the first minute."""
    to, from_ = call.to, call.from_number
    hold = billing.Hold(f"{call.id}:a", "voice_seconds", RESERVED_SECONDS,
                        {"direction": "inbound", "country": country, "leg": "a"})
    (problem,) = billing.spend_reserve(tenant_id=call.tenant_id, app_id=call.app_id, mode=call.mode,
                                       holds=[hold])
    if problem is not None:
        return Refused(403, "the app's balance or spending cap refuses the call")
    try:
        with transaction.atomic():
            call.save(force_insert=True)
            leg = CallLeg.objects.create(call=call, app_id=call.app_id, role="a", position=0, to=to,
                                         from_number=from_, country=country, timeout=0)
    except BaseException:
        billing.spend_settle([(call.tenant_id, call.app_id, hold.id, 0)])
        raise
    return call.id, leg.id
