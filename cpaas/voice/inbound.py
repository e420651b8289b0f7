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
from cpaas.messaging.models import PhoneNumber
from cpaas.voice import states
from cpaas.voice.models import Call, CallKind, CallLeg
from cpaas.voice.numbers import country_of

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
    hold = billing.Hold(f"{call.id}:a", "voice_seconds", RESERVED_SECONDS,
                        {"direction": "inbound", "country": country_of(from_), "leg": "a"})
    (problem,) = billing.spend_reserve(tenant_id=number.tenant_id, app_id=number.app_id, mode=number.mode,
                                       holds=[hold])
    if problem is not None:
        return Refused(403, "the app's balance or spending cap refuses the call")
    try:
        with transaction.atomic():
            call.save(force_insert=True)
            leg = CallLeg.objects.create(call=call, app_id=number.app_id, role="a", position=0, to=to,
                                         from_number=from_, country=country_of(from_), timeout=0)
    except BaseException:
        billing.spend_settle([(number.tenant_id, number.app_id, hold.id, 0)])
        raise
    return call.id, leg.id
