"""Shared reads of the SMS room, app first."""

from __future__ import annotations

from django.db.models import QuerySet

from cpaas.core.errors import ApiError
from cpaas.core.params import query_datetime
from cpaas.messaging.models import Message, PhoneNumber, Status
from cpaas.messaging.numbers import parse_number


def message_list(queryset: QuerySet[Message], params) -> QuerySet[Message]:
    """The caller's messages (``scoped(Message, principal)``) filtered by status, to, from,
    direction and a created_at range."""
    status = params.get("status")
    if status:
        if status not in Status.values:
            raise ApiError(f"`status` must be one of {', '.join(Status.values)}.", param="status")
        queryset = queryset.filter(status=status)
    direction = params.get("direction")
    if direction:
        if direction not in ("inbound", "outbound"):
            raise ApiError("`direction` must be inbound or outbound.", param="direction")
        queryset = queryset.filter(direction=direction)
    if params.get("to"):
        queryset = queryset.filter(to=parse_number(params["to"], param="to").e164)
    sender = params.get("from")
    if sender:
        if sender.startswith("+"):
            sender = parse_number(sender, param="from").e164
        queryset = queryset.filter(sender=sender)
    created_after, created_before = query_datetime(params, "created_after"), query_datetime(params, "created_before")
    if created_after:
        queryset = queryset.filter(created_at__gte=created_after)
    if created_before:
        queryset = queryset.filter(created_at__lt=created_before)
    return queryset


def number_owned(*, app_id: str, mode: str, number: str, capability: str | None = None) -> bool:
    """Whether ``number`` (E.164) belongs to the app in ``mode``, optionally with a capability.

    The one read of the number inventory other rooms may use (voice checks caller ids with it).
    """
    row = (PhoneNumber.objects.filter(app_id=app_id, mode=mode, number=number)
           .values_list("capabilities", flat=True).first())
    return row is not None and (capability is None or capability in (row or []))
