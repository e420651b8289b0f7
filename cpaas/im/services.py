"""Writes of the IM room. Each takes the app explicitly, owns its transaction and publishes to the
gateway bus only after commit.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

import webhooks
from cpaas.core import egress
from cpaas.core.errors import ApiError, NotFound
from cpaas.core.ids import new_id
from cpaas.im import conf, metering
from cpaas.im.bus import dumps, publish
from cpaas.im.models import (
    Conversation,
    ConversationKind,
    ImSettings,
    ImToken,
    ImUser,
    Member,
    Message,
    MessageType,
)
from cpaas.im.moderation import forget_settings, moderate
from cpaas.im.state import state
from cpaas.tenants.models import App

CLOSE_UNAUTHORIZED = 4001
CLOSE_BANNED = 4003

USER_TYPES = {MessageType.TEXT, MessageType.IMAGE, MessageType.FILE, MessageType.VOICE,
              MessageType.CUSTOM, MessageType.COMMAND}
MEDIA_TYPES = {MessageType.IMAGE, MessageType.FILE, MessageType.VOICE}


def _on_commit_publish(event: dict[str, Any]) -> None:
    transaction.on_commit(lambda: publish(event))


def _kick(app_id: str, user_id: str, *, code: int, reason: str, token_id: str | None = None) -> None:
    _on_commit_publish({"k": "kick", "app": app_id, "user": user_id, "token": token_id,
                        "code": code, "reason": reason})


# --- users and tokens ---------------------------------------------------------------------------

def user_get(*, app_id: str, mode: str, user_id: str) -> ImUser:
    """A user of the app in ``mode``; one of the other mode is as absent as another app's."""
    user = ImUser.objects.filter(app_id=app_id, mode=mode, user_id=user_id).first()
    if user is None:
        raise NotFound(f"No IM user `{user_id}`.")
    return user


def user_create(*, app: App, mode: str, user_id: str, name: str = "", avatar_url: str = "",
                metadata: dict | None = None) -> ImUser:
    try:
        with transaction.atomic():
            return ImUser.objects.create(app=app, tenant_id=app.tenant_id, mode=mode, user_id=user_id, name=name,
                                         avatar_url=avatar_url, metadata=metadata or {})
    except IntegrityError:
        raise ApiError(f"An IM user `{user_id}` already exists.", code="user_exists", param="user_id") from None


def user_update(*, user: ImUser, **fields: Any) -> ImUser:
    for name, value in fields.items():
        setattr(user, name, value)
    user.updated_at = timezone.now()
    user.save(update_fields=[*fields, "updated_at"])
    return user


def user_delete(*, user: ImUser) -> None:
    with transaction.atomic():
        ImToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
        conv_ids = list(Member.objects.filter(user=user).values_list("conversation_id", flat=True))
        user.delete()
        for conv_id in conv_ids:
            _member_count_refresh(conv_id)
        _kick(user.app_id, user.user_id, code=CLOSE_UNAUTHORIZED, reason="user deleted")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedToken:
    token: ImToken
    secret: str


def token_create(*, user: ImUser, ttl_seconds: int | None = None) -> CreatedToken:
    ttl = ttl_seconds or conf.TOKEN_TTL_SECONDS
    secret = "imtk_" + secrets.token_urlsafe(32)
    token = ImToken.objects.create(app_id=user.app_id, user=user, token_hash=_hash(secret),
                                   expires_at=timezone.now() + timedelta(seconds=ttl))
    return CreatedToken(token, secret)


def token_revoke(*, user: ImUser, token_id: str | None = None) -> int:
    """Revoke one token (or all of the user's); their live sessions close with 4001 at once."""
    with transaction.atomic():
        tokens = ImToken.objects.filter(user=user, revoked_at__isnull=True)
        if token_id:
            if not ImToken.objects.filter(user=user, pk=token_id).exists():
                raise NotFound("No such token.")
            tokens = tokens.filter(pk=token_id)
        count = tokens.update(revoked_at=timezone.now())
        _kick(user.app_id, user.user_id, code=CLOSE_UNAUTHORIZED, reason="token revoked", token_id=token_id)
    return count


def user_ban(*, user: ImUser, duration_seconds: int) -> ImUser:
    """Ban for a duration (0 lifts the ban); a ban closes every live session with 4003."""
    with transaction.atomic():
        until = timezone.now() + timedelta(seconds=duration_seconds) if duration_seconds else None
        ImUser.objects.filter(pk=user.pk).update(banned_until=until, updated_at=timezone.now())
        user.banned_until = until
        if until is not None:
            _kick(user.app_id, user.user_id, code=CLOSE_BANNED, reason="user banned")
    return user


class AuthFailure(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def token_authenticate(secret: str) -> tuple[ImToken, ImUser, App]:
    """The gateway's check of a presented token. Raises AuthFailure(4001|4003, reason)."""
    if not secret or len(secret) > 200:
        raise AuthFailure(CLOSE_UNAUTHORIZED, "missing token")
    token = ImToken.objects.select_related("user", "app").filter(token_hash=_hash(secret)).first()
    now = timezone.now()
    if token is None:
        raise AuthFailure(CLOSE_UNAUTHORIZED, "invalid token")
    if token.revoked_at is not None:
        raise AuthFailure(CLOSE_UNAUTHORIZED, "token revoked")
    if token.expires_at <= now:
        raise AuthFailure(CLOSE_UNAUTHORIZED, "token expired")
    if token.user.is_banned(now):
        raise AuthFailure(CLOSE_BANNED, "user banned")
    return token, token.user, token.app


# --- conversations ------------------------------------------------------------------------------

def _member_count_refresh(conv_id: str) -> None:
    count = Member.objects.filter(conversation_id=conv_id).count()
    Conversation.objects.filter(pk=conv_id).update(member_count=count, members_version=F("members_version") + 1)


_members_lock = threading.Lock()
_members_cache: dict[str, tuple[int, list[tuple[str, datetime | None]]]] = {}


def _group_members(conv: Conversation) -> list[tuple[str, datetime | None]]:
    """(user id, muted until) of a group, cached per process by the conversation's members_version
    (read with the conversation on every send, so a change is seen by the next send)."""
    with _members_lock:
        hit = _members_cache.get(conv.pk)
    if hit is not None and hit[0] == conv.members_version:
        return hit[1]
    rows = list(Member.objects.filter(conversation=conv).values_list("user__user_id", "muted_until"))
    with _members_lock:
        if len(_members_cache) > 10_000:
            _members_cache.clear()
        _members_cache[conv.pk] = (conv.members_version, rows)
    return rows


def private_conversation(*, app_id: str, a: ImUser, b: ImUser) -> Conversation:
    """The one private conversation of two users of one mode, created on first use."""
    if a.mode != b.mode:
        raise NotFound(f"No IM user `{b.user_id}`.")
    first, second = sorted([a.user_id, b.user_id])
    key = f"p:{first}\n{second}"
    conv = Conversation.objects.filter(app_id=app_id, key=key).first()
    if conv is not None:
        return conv
    try:
        with transaction.atomic():
            conv = Conversation.objects.create(app_id=app_id, kind=ConversationKind.PRIVATE, key=key, mode=a.mode,
                                               member_count=1 if a.pk == b.pk else 2)
            Member.objects.bulk_create([Member(app_id=app_id, conversation=conv, user=u)
                                        for u in {a.pk: a, b.pk: b}.values()])
            return conv
    except IntegrityError:
        return Conversation.objects.get(app_id=app_id, key=key)


def broadcast_key(mode: str) -> str:
    """One broadcast conversation per app and mode: a test broadcast reaches test users only."""
    return "broadcast" if mode == "live" else f"broadcast:{mode}"


def broadcast_conversation(*, app_id: str, mode: str) -> Conversation:
    conv, _ = Conversation.objects.get_or_create(
        app_id=app_id, key=broadcast_key(mode),
        defaults={"kind": ConversationKind.BROADCAST, "name": "broadcast", "mode": mode})
    return conv


def conversation_get(*, app_id: str, mode: str, conversation_id: str, kinds=None) -> Conversation:
    conv = Conversation.objects.filter(app_id=app_id, mode=mode, pk=conversation_id).first()
    if conv is None or (kinds and conv.kind not in kinds):
        raise NotFound("No such conversation.")
    return conv


def _users_for(app_id: str, mode: str, user_ids: list[str], param: str) -> list[ImUser]:
    users = list(ImUser.objects.filter(app_id=app_id, mode=mode, user_id__in=set(user_ids)))
    missing = sorted(set(user_ids) - {u.user_id for u in users})
    if missing:
        raise ApiError(f"No IM user `{missing[0]}`.", code="not_found", param=param, status=400)
    return users


def group_create(*, app: App, mode: str, name: str, owner_id: str | None, member_ids: list[str],
                 metadata: dict | None = None) -> Conversation:
    ids = list(dict.fromkeys([*([owner_id] if owner_id else []), *member_ids]))
    if len(ids) > conf.MAX_GROUP_MEMBERS:
        raise ApiError(f"A group holds at most {conf.MAX_GROUP_MEMBERS} members.", code="group_full",
                       param="members")
    users = _users_for(app.pk, mode, ids, "members")
    with transaction.atomic():
        gid = new_id("cnv")
        conv = Conversation.objects.create(id=gid, app=app, mode=mode, kind=ConversationKind.GROUP, key=gid, name=name,
                                           owner_user_id=owner_id or "", metadata=metadata or {},
                                           member_count=len(users))
        Member.objects.bulk_create([Member(app=app, conversation=conv, user=u) for u in users], batch_size=1000)
    return conv


def group_members_add(*, group: Conversation, user_ids: list[str]) -> int:
    users = _users_for(group.app_id, group.mode, user_ids, "members")
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=group.pk)
        if locked.dismissed_at is not None:
            raise ApiError("The group is dismissed.", code="conversation_dismissed")
        have = set(Member.objects.filter(conversation=locked, user__in=users).values_list("user_id", flat=True))
        new = [u for u in users if u.pk not in have]
        if locked.member_count + len(new) > conf.MAX_GROUP_MEMBERS:
            raise ApiError(f"A group holds at most {conf.MAX_GROUP_MEMBERS} members.", code="group_full",
                           param="members")
        # joined_seq under the row lock: no message can take a number between reading it and joining.
        Member.objects.bulk_create([Member(app_id=locked.app_id, conversation=locked, user=u,
                                           joined_seq=locked.last_seq) for u in new], batch_size=1000)
        Conversation.objects.filter(pk=locked.pk).update(member_count=locked.member_count + len(new),
                                                         members_version=F("members_version") + 1)
    return len(new)


def group_members_remove(*, group: Conversation, user_ids: list[str]) -> int:
    with transaction.atomic():
        deleted, _ = Member.objects.filter(conversation=group, user__user_id__in=user_ids).delete()
        _member_count_refresh(group.pk)
    return deleted


def group_dismiss(*, group: Conversation) -> Conversation:
    Conversation.objects.filter(pk=group.pk, dismissed_at__isnull=True).update(dismissed_at=timezone.now())
    group.refresh_from_db()
    return group


def member_mute(*, group: Conversation, user_id: str, duration_seconds: int) -> Member:
    member = Member.objects.filter(conversation=group, user__user_id=user_id).first()
    if member is None:
        raise NotFound(f"`{user_id}` is not a member of this group.")
    member.muted_until = timezone.now() + timedelta(seconds=duration_seconds) if duration_seconds else None
    member.save(update_fields=["muted_until"])
    Conversation.objects.filter(pk=group.pk).update(members_version=F("members_version") + 1)
    return member


def chatroom_create(*, app: App, mode: str, name: str, metadata: dict | None = None) -> Conversation:
    cid = new_id("cnv")
    return Conversation.objects.create(id=cid, app=app, mode=mode, kind=ConversationKind.CHATROOM, key=cid, name=name,
                                       metadata=metadata or {})


def chatroom_delete(*, room: Conversation) -> None:
    Conversation.objects.filter(pk=room.pk, dismissed_at__isnull=True).update(dismissed_at=timezone.now())
    _on_commit_publish({"k": "room_close", "app": room.app_id, "room": room.pk})


def settings_update(*, app: App, mode: str, **fields: Any) -> ImSettings:
    """Change the app's IM policy; a ``hook_url`` must pass the egress's guard (400
    ``url_not_allowed``), as it is checked again at every call. ``hook_url`` is the caller's
    mode's hook: a test key never sets the hook that receives live messages."""
    if fields.get("hook_url"):
        fields["hook_url"] = egress.tenant_url(fields["hook_url"], param="hook_url")
    if "hook_url" in fields and mode != "live":
        fields["test_hook_url"] = fields.pop("hook_url")
    policy, _ = ImSettings.objects.get_or_create(app=app)
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.updated_at = timezone.now()
    policy.save()
    forget_settings(app.pk)
    return policy


# --- messages -----------------------------------------------------------------------------------

def message_data(msg: Message, kind: str) -> dict[str, Any]:
    return {
        "id": msg.id, "conversation_id": msg.conversation_id, "conversation_type": kind, "seq": msg.seq,
        "from": msg.sender_id or None, "type": msg.type, "content": msg.content,
        "client_msg_id": msg.client_msg_id, "recalled": msg.recalled_at is not None,
        "created_at": msg.created_at.isoformat().replace("+00:00", "Z"),
    }


def msg_frame(data: dict[str, Any]) -> str:
    return dumps({"type": "msg", "message": data})


def content_validate(msg_type: str, content: Any) -> dict[str, Any]:
    if msg_type not in USER_TYPES:
        raise ApiError(f"Unknown message type `{msg_type}`.", param="type")
    if not isinstance(content, dict):
        raise ApiError("`content` must be a JSON object.", param="content")
    size = len(json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode())
    if size > conf.MAX_MESSAGE_BYTES:
        raise ApiError(f"The message is {size} bytes; the limit is {conf.MAX_MESSAGE_BYTES}.",
                       code="message_too_large", param="content")
    if msg_type == MessageType.TEXT:
        if not isinstance(content.get("text"), str) or not content["text"]:
            raise ApiError("A text message needs `content.text`.", param="content.text")
    elif msg_type in MEDIA_TYPES:
        url = content.get("url")
        parsed = urlparse(url) if isinstance(url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ApiError(f"An {msg_type} message needs an http(s) `content.url`.", param="content.url")
        for field in ("size", "duration"):
            value = content.get(field)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
                raise ApiError(f"`content.{field}` must be a non-negative number.", param=f"content.{field}")
    return content


@dataclass
class SendResult:
    status: str  # stored | duplicate | delivered (command) | shed (chatroom overload)
    message: dict[str, Any]


def _recipients(conv: Conversation) -> list[str] | str:
    if conv.kind == ConversationKind.BROADCAST:
        return f"*{conv.mode}"
    if conv.kind == ConversationKind.PRIVATE:
        return conv.key[2:].split("\n")
    return [user_id for user_id, _ in _group_members(conv)]


def _store(*, app_id: str, conv: Conversation, sender_id: str, msg_type: str, content: dict,
           client_msg_id: str, now: datetime) -> Message:
    """Persist with the next seq of the conversation. Call inside a transaction: the counter row
    stays locked until commit, so seqs commit in order; a rollback gives the number back.

    A repeated ``client_msg_id`` raises IntegrityError (the unique index is the arbiter, so two
    concurrent retries cannot both insert); the caller rolls back and returns the original.
    """
    # one round trip: take the number and insert the row
    msg = Message(app_id=app_id, conversation=conv, sender_id=sender_id, type=msg_type, content=content,
                  client_msg_id=client_msg_id, created_at=now)
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH s AS (UPDATE im_conversation SET last_seq = last_seq + 1 WHERE id = %s RETURNING last_seq) "
            "INSERT INTO im_message (id, app_id, conversation_id, seq, sender_id, type, content, client_msg_id, "
            "recalled_at, created_at, published) "
            "SELECT %s, %s, %s, s.last_seq, %s, %s, %s::jsonb, %s, NULL, %s, false FROM s RETURNING seq",
            [conv.pk, msg.id, app_id, conv.pk, sender_id, msg_type,
             json.dumps(content, separators=(",", ":"), ensure_ascii=False), client_msg_id, now])
        (msg.seq,) = cursor.fetchone()
    return msg


def _original(conv: Conversation, sender_id: str, client_msg_id: str) -> Message | None:
    if not client_msg_id:
        return None
    return Message.objects.filter(conversation=conv, sender_id=sender_id, client_msg_id=client_msg_id).first()


def _publish_stored(app: App, conv: Conversation, msg: Message, data: dict[str, Any],
                    recipients: list[str] | str) -> None:
    # im.message.created and im_messages usage: written by cpaas.im.outbox from the row itself.
    _on_commit_publish({"k": "msg", "app": app.pk, "conv": conv.pk, "seq": msg.seq, "to": recipients,
                        "frame": msg_frame(data)})


def message_send(*, app: App, sender: ImUser | None, conv: Conversation, msg_type: str, content: Any,
                 client_msg_id: str = "", priority: str | None = None) -> SendResult:
    """Send as ``sender`` (None: the system) into ``conv``. Preconditions: conv belongs to app.

    Stored kinds (private, group, broadcast) get the next seq atomically; chatrooms and commands
    are delivered to whoever is present and never stored.
    """
    content = content_validate(msg_type, content)
    now = timezone.now()
    sender_id = sender.user_id if sender else ""
    if conv.dismissed_at is not None:
        raise ApiError("The conversation is closed.", code="conversation_dismissed", param="conversation_id")
    recipients: list[str] | str | None = None
    if sender is not None:
        if sender.is_banned(now):
            raise ApiError("The user is banned.", code="user_banned")
        if conv.kind == ConversationKind.PRIVATE:
            # the two members are the conversation's key; no query
            recipients = conv.key[2:].split("\n")
            if sender_id not in recipients:
                raise ApiError("The sender is not a member of the conversation.", code="not_a_member",
                               param="conversation_id")
        elif conv.kind == ConversationKind.GROUP:
            # one query: the member list is both the membership check and the fan-out list
            rows = _group_members(conv)
            recipients = [uid for uid, _ in rows]
            muted = next((m for uid, m in rows if uid == sender_id), False)
            if muted is False:
                raise ApiError("The sender is not a member of the conversation.", code="not_a_member",
                               param="conversation_id")
            if muted is not None and muted > now:
                raise ApiError("The sender is muted in this group.", code="member_muted")
        elif conv.kind == ConversationKind.BROADCAST:
            raise ApiError("Only the system broadcasts.", code="not_a_member", param="conversation_id")
    if msg_type != MessageType.COMMAND:
        content = moderate(app_id=app.pk, mode=conv.mode, sender_id=sender_id, conversation_id=conv.pk,
                           conversation_type=conv.kind, msg_type=msg_type, content=content)
    if msg_type != MessageType.COMMAND or conv.kind == ConversationKind.CHATROOM:  # what is metered
        problem = metering.messages_reserve(app=app, kind=conv.kind, mode=conv.mode)[0]
        if problem is not None:
            raise problem
    # The common case is one statement (seq + insert, see _store) in autocommit: one round trip
    # instead of BEGIN, statement, COMMIT (docs/decisions/0505). A transaction is needed only when
    # the send also writes the sender's first DAU fact of the day, or for chatrooms and commands.
    single = (not connection.in_atomic_block
              and msg_type != MessageType.COMMAND
              and conv.kind != ConversationKind.CHATROOM
              and (sender is None or metering.dau_known(app=app, user_id=sender_id, when=now, mode=conv.mode)))
    try:
        with nullcontext() if single else transaction.atomic():
            if sender is not None and not single:
                metering.dau_touch(app=app, user_id=sender_id, when=now, mode=conv.mode)
            if conv.kind == ConversationKind.CHATROOM:
                return _room_send(app=app, room=conv, sender_id=sender_id, msg_type=msg_type, content=content,
                                  client_msg_id=client_msg_id, priority=priority, now=now)
            if recipients is None:
                recipients = _recipients(conv)
            if msg_type == MessageType.COMMAND:
                data = {"id": new_id("imm"), "conversation_id": conv.pk, "conversation_type": conv.kind, "seq": None,
                        "from": sender_id or None, "type": msg_type, "content": content,
                        "client_msg_id": client_msg_id, "recalled": False,
                        "created_at": now.isoformat().replace("+00:00", "Z")}
                _on_commit_publish({"k": "cmd", "app": app.pk, "conv": conv.pk, "to": recipients,
                                    "frame": msg_frame(data)})
                return SendResult("delivered", data)
            msg = _store(app_id=app.pk, conv=conv, sender_id=sender_id, msg_type=msg_type, content=content,
                         client_msg_id=client_msg_id, now=now)
            data = message_data(msg, conv.kind)
            _publish_stored(app, conv, msg, data, recipients)
            return SendResult("stored", data)
    except IntegrityError:
        # A retry of a message already stored (same sender, client_msg_id): answer with the original.
        original = _original(conv, sender_id, client_msg_id)
        if original is None:
            raise
        return SendResult("duplicate", message_data(original, conv.kind))


def message_send_many(*, app: App, conv: Conversation,
                      items: list[tuple[ImUser, str, Any, str]]) -> list[SendResult | ApiError]:
    """Several users' messages into one group in one transaction: one counter update, one
    multi-row insert, one commit (one WAL flush) for all of them. Items are (sender, type,
    content, client_msg_id); each gets its own result or error, in order. Under load the row lock
    and the commit flush, not the CPU, bound one conversation; this divides that cost by the batch.
    """
    results: list[SendResult | ApiError | None] = [None] * len(items)
    accepted: list[tuple[int, ImUser, str, dict, str]] = []
    now = timezone.now()
    members = dict(_group_members(conv)) if conv.kind == ConversationKind.GROUP else {}
    for i, (sender, msg_type, content, client_msg_id) in enumerate(items):
        try:
            if conv.kind != ConversationKind.GROUP or msg_type == MessageType.COMMAND:
                raise _Single()
            content = content_validate(msg_type, content)
            if conv.dismissed_at is not None:
                raise ApiError("The conversation is closed.", code="conversation_dismissed", param="conversation_id")
            if sender.is_banned(now):
                raise ApiError("The user is banned.", code="user_banned")
            if sender.user_id not in members:
                raise ApiError("The sender is not a member of the conversation.", code="not_a_member",
                               param="conversation_id")
            muted = members[sender.user_id]
            if muted is not None and muted > now:
                raise ApiError("The sender is muted in this group.", code="member_muted")
            content = moderate(app_id=app.pk, mode=conv.mode, sender_id=sender.user_id, conversation_id=conv.pk,
                               conversation_type=conv.kind, msg_type=msg_type, content=content)
            accepted.append((i, sender, msg_type, content, client_msg_id))
        except _Single:
            results[i] = _send_one(app, sender, conv, msg_type, content, client_msg_id)
        except ApiError as exc:
            results[i] = exc
    if len(accepted) == 1:
        i, sender, msg_type, content, client_msg_id = accepted.pop()
        results[i] = _send_one(app, sender, conv, msg_type, content, client_msg_id)
    elif accepted:
        # one Redis call for all
        problems = metering.messages_reserve(app=app, kind=conv.kind, count=len(accepted), mode=conv.mode)
        for (i, *_rest), problem in zip(accepted, problems, strict=True):
            if problem is not None:
                results[i] = problem
        accepted = [item for item, problem in zip(accepted, problems, strict=True) if problem is None]
    if accepted:
        recipients = list(members)
        try:
            with transaction.atomic():
                for _i, sender, *_rest in accepted:
                    metering.dau_touch(app=app, user_id=sender.user_id, when=now, mode=conv.mode)
                with connection.cursor() as cursor:
                    cursor.execute(
                        "UPDATE im_conversation SET last_seq = last_seq + %s WHERE id = %s RETURNING last_seq",
                        [len(accepted), conv.pk])
                    (last,) = cursor.fetchone()
                rows = [Message(app_id=app.pk, conversation=conv, seq=last - len(accepted) + 1 + n,
                                sender_id=sender.user_id, type=msg_type, content=content, client_msg_id=client_msg_id,
                                created_at=now)
                        for n, (_i, sender, msg_type, content, client_msg_id) in enumerate(accepted)]
                Message.objects.bulk_create(rows)
                for (i, *_rest), msg in zip(accepted, rows, strict=True):
                    data = message_data(msg, conv.kind)
                    _publish_stored(app, conv, msg, data, recipients)
                    results[i] = SendResult("stored", data)
        except IntegrityError:
            # a retried client_msg_id among them: do them one by one (each finds its original)
            for i, sender, msg_type, content, client_msg_id in accepted:
                results[i] = _send_one(app, sender, conv, msg_type, content, client_msg_id)
    return results  # type: ignore[return-value]


class _Single(Exception):
    pass


def _send_one(app, sender, conv, msg_type, content, client_msg_id) -> SendResult | ApiError:
    try:
        return message_send(app=app, sender=sender, conv=conv, msg_type=msg_type, content=content,
                            client_msg_id=client_msg_id)
    except ApiError as exc:
        return exc


def _room_send(*, app: App, room: Conversation, sender_id: str, msg_type: str, content: dict, client_msg_id: str,
               priority: str | None, now: datetime) -> SendResult:
    from cpaas.im.moderation import app_settings

    policy = app_settings(app.pk)
    low = priority == "low" if priority in ("low", "high") else msg_type in (policy.low_priority_types or [])
    whitelisted = bool(sender_id) and sender_id in (policy.whitelisted_senders or [])
    data = {"id": new_id("imm"), "conversation_id": room.pk, "conversation_type": room.kind, "seq": None,
            "from": sender_id or None, "type": msg_type, "content": content, "client_msg_id": client_msg_id,
            "recalled": False, "created_at": now.isoformat().replace("+00:00", "Z")}
    if not state().room_admit(app.pk, room.pk, low=low, whitelisted=whitelisted):
        return SendResult("shed", data)
    data["seq"] = state().room_next_seq(app.pk, room.pk)
    frame = msg_frame(data)
    if msg_type != MessageType.COMMAND:
        state().room_backlog_push(app.pk, room.pk, frame)
    metering.message_count(app=app, sender_id=sender_id, message_id=data["id"], when=now,
                           conversation_type=room.kind, mode=room.mode)
    _on_commit_publish({"k": "room", "app": app.pk, "room": room.pk, "frame": frame})
    return SendResult("delivered", data)


def message_recall(*, app: App, message: Message, by: ImUser | None) -> Message:
    """Recall a stored message: content cleared, and a ``recall`` message stored after it so every
    member learns of it with the same exactly-once, in-order guarantee."""
    now = timezone.now()
    if by is not None:
        if message.sender_id != by.user_id:
            raise ApiError("Only the sender may recall a message.", code="permission_denied")
        if (now - message.created_at).total_seconds() > conf.RECALL_WINDOW_SECONDS:
            raise ApiError(f"Messages can be recalled within {conf.RECALL_WINDOW_SECONDS} s.",
                           code="recall_window_passed")
    with transaction.atomic():
        changed = Message.objects.filter(pk=message.pk, recalled_at__isnull=True).update(recalled_at=now, content={})
        message.refresh_from_db()
        if not changed:
            return message
        conv = message.conversation
        notice = _store(app_id=app.pk, conv=conv, sender_id=by.user_id if by else "", msg_type=MessageType.RECALL,
                        content={"message_id": message.id, "seq": message.seq}, client_msg_id="", now=now)
        data = message_data(notice, conv.kind)
        webhooks.publish(app, "im.message.recalled",
                         {"id": message.id, "conversation_id": conv.pk, "seq": message.seq,
                          "recalled_by": by.user_id if by else None},
                         idempotency_key=f"im.message.recalled:{message.id}", livemode=conv.mode == "live")
        _on_commit_publish({"k": "msg", "app": app.pk, "conv": conv.pk, "seq": notice.seq, "to": _recipients(conv),
                            "frame": msg_frame(data)})
    return message


def read_mark(*, user: ImUser, conv: Conversation, seq: int) -> bool:
    """Move the member's read cursor forward (never back); in private chats tell the other side."""
    changed = Member.objects.filter(conversation=conv, user=user, read_seq__lt=seq).update(read_seq=seq)
    if changed and conv.kind == ConversationKind.PRIVATE:
        others = [u for u in _recipients(conv) if u != user.user_id]
        frame = dumps({"type": "read", "conversation_id": conv.pk, "user_id": user.user_id, "seq": seq})
        _on_commit_publish({"k": "cmd", "app": conv.app_id, "conv": conv.pk, "to": others, "frame": frame})
    return bool(changed)
