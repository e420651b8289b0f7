"""Reads of the IM room, app first."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from cpaas.im import conf
from cpaas.im.models import Conversation, ConversationKind, ImUser, Member, Message
from cpaas.im.services import broadcast_key, message_data


def messages_page(*, conv: Conversation, after_seq: int | None = None, before_seq: int | None = None,
                  limit: int = 50, since=None) -> list[Message]:
    qs = Message.objects.filter(conversation=conv)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    if before_seq is not None:
        rows = list(qs.filter(seq__lt=before_seq).order_by("-seq")[:limit])
        return list(reversed(rows))
    return list(qs.filter(seq__gt=after_seq or 0).order_by("seq")[:limit])


def messages_range(*, conv_id: str, after_seq: int, upto_seq: int, kind: str) -> list[dict[str, Any]]:
    """Messages ``after_seq < seq <= upto_seq`` in order (the gateway's gap fill)."""
    rows = Message.objects.filter(conversation_id=conv_id, seq__gt=after_seq, seq__lte=upto_seq).order_by("seq")
    return [message_data(m, kind) for m in rows]


def user_conversations(*, user: ImUser) -> QuerySet[Member]:
    return (Member.objects.filter(app_id=user.app_id, user=user)
            .exclude(conversation__kind=ConversationKind.CHATROOM)
            .select_related("conversation"))


def sync_plan(*, user: ImUser, cursors: dict[str, int]) -> list[tuple[str, str, int, int]]:
    """For each conversation of the user: (conversation id, kind, from seq, last seq)."""
    plan = []
    for member in user_conversations(user=user):
        conv = member.conversation
        start = max(int(cursors.get(conv.pk, 0)), member.joined_seq)
        plan.append((conv.pk, conv.kind, start, conv.last_seq))
    broadcast = Conversation.objects.filter(app_id=user.app_id, key=broadcast_key(user.mode)).first()
    if broadcast is not None:
        plan.append((broadcast.pk, broadcast.kind, int(cursors.get(broadcast.pk, 0)), broadcast.last_seq))
    return plan


def sync_batch(*, conv_id: str, kind: str, after_seq: int, limit: int) -> list[dict[str, Any]]:
    since = timezone.now() - timedelta(days=conf.SYNC_RETENTION_DAYS)
    rows = (Message.objects.filter(conversation_id=conv_id, seq__gt=after_seq, created_at__gte=since)
            .order_by("seq")[:limit])
    return [message_data(m, kind) for m in rows]


def membership(*, user: ImUser, conv_id: str) -> tuple[Conversation, Member | None] | None:
    conv = Conversation.objects.filter(app_id=user.app_id, mode=user.mode, pk=conv_id).first()
    if conv is None:
        return None
    member = Member.objects.filter(conversation=conv, user=user).first()
    return conv, member
