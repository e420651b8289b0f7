"""Stage ``inbound``: a message to one of our numbers is stored and published; STOP, START and
HELP keywords are handled (an opt-out, its removal, the app's HELP reply queued like a send)."""

from __future__ import annotations

import logging
from dataclasses import replace

from django.db import transaction
from django.utils import timezone

import billing
from cpaas.carriers.base import InboundSms
from cpaas.core.errors import ApiError
from cpaas.messaging import conf, encoding, infra
from cpaas.messaging.announce import announce
from cpaas.messaging.kicks import kick_dispatch
from cpaas.messaging.models import Direction, Message, Mode, OptOut, PhoneNumber, SmsSettings, Status
from cpaas.messaging.numbers import parse_number
from cpaas.tenants.models import App

log = logging.getLogger(__name__)

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "退订"}
START_WORDS = {"START", "UNSTOP", "YES"}
HELP_WORDS = {"HELP", "INFO"}


def inbound_receive(inbound: InboundSms) -> Message | None:
    """A message to one of our numbers: store it, handle STOP/START/HELP, publish message.received."""
    try:
        recipient = parse_number(inbound.recipient if inbound.recipient.startswith("+")
                                 else f"+{inbound.recipient}", param="to").e164
    except Exception:
        recipient = inbound.recipient
    number = PhoneNumber.objects.filter(number=recipient, inbound_enabled=True).first()
    if number is None:
        log.info("inbound message to an unknown number %s dropped", recipient)
        return None
    try:
        sender = parse_number(inbound.sender if inbound.sender.startswith("+") else f"+{inbound.sender}",
                              param="from")
        sender_e164, country = sender.e164, sender.country
    except Exception:
        sender_e164, country = inbound.sender[:20], ""
    if inbound.carrier_message_id and Message.objects.filter(
            app_id=number.app_id, direction=Direction.INBOUND, connector=inbound.connector,
            carrier_message_id=inbound.carrier_message_id).exists():
        return None  # a doubled MO
    info = encoding.segment(inbound.body or "")
    now = inbound.received_at or timezone.now()
    keyword = (inbound.body or "").strip().upper()
    with transaction.atomic():
        message = Message.objects.create(
            tenant_id=number.tenant_id, app_id=number.app_id, direction=Direction.INBOUND, mode=number.mode,
            to=number.number, sender=sender_e164, country=country, body=inbound.body or "",
            encoding=info.encoding, segments=info.segments, status=Status.RECEIVED, received_at=now,
            created_at=now, connector=inbound.connector, carrier_message_id=inbound.carrier_message_id)
        announce([message])
        if keyword in STOP_WORDS:
            OptOut.objects.get_or_create(app_id=number.app_id, number=sender_e164, defaults={"keyword": keyword})
        elif keyword in START_WORDS:
            OptOut.objects.filter(app_id=number.app_id, number=sender_e164).delete()
        elif keyword in HELP_WORDS:
            help_text = SmsSettings.objects.filter(app_id=number.app_id).values_list("help_text", flat=True).first()
            if help_text:
                reply = encoding.segment(help_text)
                row = Message(
                    tenant_id=number.tenant_id, app_id=number.app_id, mode=number.mode, to=sender_e164,
                    sender=number.number, country=country, body=help_text, encoding=reply.encoding,
                    segments=reply.segments, status=Status.QUEUED, queued_at=now, created_at=now)
                if _help_reply_paid(row):
                    row.save(force_insert=True)
                    transaction.on_commit(kick_dispatch)
        billing.record_usage(App.objects.get(pk=number.app_id), "sms_segments", info.segments,
                             dimensions={"country": country, "direction": "inbound"},
                             occurred_at=now, idempotency_key=f"sms:{message.id}", mode=number.mode)
    return message


def _help_reply_paid(reply: Message) -> bool:
    """Money before traffic for the HELP auto-reply, a live send anyone can trigger by texting
    HELP: reserved like an API send (settled by the dispatcher); not sent when refused or when
    the money check cannot be made (fail closed, logged)."""
    if reply.mode != Mode.LIVE:
        return True
    hold = billing.Hold(reply.id, "sms_segments", reply.segments,
                        {"country": reply.country, "direction": "outbound"})
    try:
        problem = billing.spend_reserve(tenant_id=reply.tenant_id, app_id=reply.app_id, mode=reply.mode,
                                        holds=[hold])[0]
    except ApiError as exc:
        problem = exc
    if problem is not None:
        log.warning("HELP reply not sent: %s", problem.message, extra={"app_id": reply.app_id})
        return False
    return True


def inbound_join(inbound: InboundSms) -> InboundSms | None:
    """A multipart MO becomes one inbound message when its last part arrives (None until then).

    Parts are keyed by connector, sender, recipient, reference and count, and wait at most
    ``SMS_CONCAT_TTL_SECONDS`` for the others (then they are dropped, as handsets do).
    """
    if inbound.part is None or inbound.part[1] <= 1:
        return inbound
    reference, total, index = inbound.part
    key = f"{inbound.connector}:{inbound.sender}:{inbound.recipient}:{reference}:{total}"
    parts = infra.concat_collect(key, index, total, inbound.body or "", conf.CONCAT_TTL_SECONDS)
    if parts is None:
        return None
    return replace(inbound, body="".join(parts), part=None)
