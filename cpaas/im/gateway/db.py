"""Database work of the gateway, run on a small dedicated thread pool (the event loop never blocks).

Each function is plain synchronous Django; ``run`` hands it to the pool and retries once when the
thread's database connection turned out dead (a restarted PostgreSQL, an idle timeout).
"""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime
from typing import Any

from django.db import InterfaceError, OperationalError, connection, transaction

import webhooks
from cpaas.core import authfail
from cpaas.core.db import DbThreads
from cpaas.core.errors import ApiError, NotFound
from cpaas.core.ttlcache import TtlCache
from cpaas.im import conf, metering, services
from cpaas.im.models import Conversation, ConversationKind, Member, Message
from cpaas.im.selectors import sync_batch, sync_plan
from cpaas.im.services import CLOSE_UNAUTHORIZED, AuthFailure, msg_frame
from cpaas.im.state import state

_threads = DbThreads(conf.GATEWAY_DB_THREADS, "im-db")


def shutdown_executor() -> None:
    """Close the threads' database connections and stop the threads."""
    _threads.shutdown()


def _retrying(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (OperationalError, InterfaceError):
        if connection.in_atomic_block:
            raise
        connection.close()
        return fn(*args, **kwargs)


async def run(fn, *args, **kwargs) -> Any:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_threads.executor(), functools.partial(_retrying, fn, *args, **kwargs))


# --- the functions ------------------------------------------------------------------------------

class Throttled(Exception):
    """The client's address failed authentication too often; it may try again in ``retry_after`` s."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


def authenticate(secret: str, address: str):
    """The token's check, behind the failed-authentication throttle shared with API keys
    (decision 0891): a blocked address is refused before the token lookup; only a bad token counts
    (a banned user's token is genuine, and a valid one writes nothing)."""
    throttle = authfail.throttled(address)
    if throttle.blocked:
        raise Throttled(throttle.retry_after)
    try:
        return services.token_authenticate(secret)
    except AuthFailure as failure:
        if failure.code == CLOSE_UNAUTHORIZED:
            authfail.failed(address)
        raise


def _iso(now: datetime) -> str:
    return now.astimezone(UTC).isoformat().replace("+00:00", "Z")


def session_open(app, user_id: str, session_id: str, mode: str) -> None:
    now = datetime.now(UTC)
    with transaction.atomic():
        metering.dau_touch(app=app, user_id=user_id, when=now, mode=mode)
        if state().presence_connect(app.pk, user_id, session_id, mode):
            webhooks.publish(app, "im.user.online", {"user_id": user_id, "at": _iso(now), "session_id": session_id},
                             idempotency_key=f"im.user.online:{session_id}", livemode=mode == "live")


def session_close(app, user_id: str, session_id: str, mode: str) -> None:
    now = datetime.now(UTC)
    if state().presence_disconnect(app.pk, user_id, session_id, mode):
        webhooks.publish(app, "im.user.offline", {"user_id": user_id, "at": _iso(now), "session_id": session_id},
                         idempotency_key=f"im.user.offline:{session_id}", livemode=mode == "live")


def presence_refresh(app_id: str, user_id: str, session_id: str) -> None:
    state().presence_refresh(app_id, user_id, session_id)


def plan(user, cursors: dict[str, int]):
    return sync_plan(user=user, cursors=cursors)


def batch(conv_id: str, kind: str, after_seq: int, limit: int) -> list[tuple[int, str]]:
    return [(m["seq"], msg_frame(m)) for m in sync_batch(conv_id=conv_id, kind=kind, after_seq=after_seq, limit=limit)]


def start_cursor(user, conv_id: str) -> int | None:
    """Where a session new to a conversation starts: after the member's joined_seq; None if not a member."""
    conv = Conversation.objects.filter(app_id=user.app_id, mode=user.mode, pk=conv_id).only("kind").first()
    if conv is None:
        return None
    if conv.kind == ConversationKind.BROADCAST:
        return 0
    return Member.objects.filter(conversation_id=conv_id, user=user).values_list("joined_seq", flat=True).first()


def gap(conv_id: str, after_seq: int, upto_seq: int) -> list[tuple[int, str]]:
    conv = Conversation.objects.filter(pk=conv_id).only("kind").first()
    if conv is None:
        return []
    rows = Message.objects.filter(conversation_id=conv_id, seq__gt=after_seq, seq__lte=upto_seq).order_by("seq")
    return [(m.seq, msg_frame(services.message_data(m, conv.kind))) for m in rows]


def cursors_save(app_id: str, user_id: str, device: str, cursors: dict[str, int]) -> None:
    state().cursors_save(app_id, user_id, device, cursors)


def cursors_load(app_id: str, user_id: str, device: str) -> dict[str, int]:
    return state().cursors_load(app_id, user_id, device)


PRIVATE_CACHE_SECONDS = 30.0
_private: TtlCache[tuple, Conversation] = TtlCache(PRIVATE_CACHE_SECONDS, max_entries=100_000)


def _private_cached(app, user, to: str) -> Conversation:
    """Private conversations never change kind or id; keep them a little to save two queries a send."""
    key = (app.pk, user.mode, *sorted((user.user_id, to)))
    conv = _private.get(key)
    if conv is None:
        peer = services.user_get(app_id=app.pk, mode=user.mode, user_id=to)
        conv = _private.put(key, services.private_conversation(app_id=app.pk, a=user, b=peer))
    return conv


def send(app, user, frame: dict[str, Any], rooms: frozenset[str] = frozenset()) -> services.SendResult:
    conv_id, to = frame.get("conversation_id"), frame.get("to")
    if bool(conv_id) == bool(to):
        raise ApiError("Give `to` (a user) or `conversation_id`.", code="invalid_request", param="conversation_id")
    if to:
        if not isinstance(to, str):
            raise ApiError("`to` must be a user id.", param="to")
        conv = _private_cached(app, user, to)
    else:
        if not isinstance(conv_id, str):
            raise ApiError("`conversation_id` must be a string.", param="conversation_id")
        conv = services.conversation_get(app_id=app.pk, mode=user.mode, conversation_id=conv_id)
        if conv.kind == ConversationKind.BROADCAST:
            raise ApiError("Only the system broadcasts.", code="not_a_member", param="conversation_id")
        if conv.kind == ConversationKind.CHATROOM and conv.pk not in rooms:
            raise ApiError("Join the chatroom before sending to it.", code="not_a_member", param="conversation_id")
    client_msg_id = frame.get("client_msg_id") or ""
    if not isinstance(client_msg_id, str) or len(client_msg_id) > 64:
        raise ApiError("`client_msg_id` must be a string of at most 64 characters.", param="client_msg_id")
    msg_type = frame.get("msg_type", "text")
    if not isinstance(msg_type, str):
        raise ApiError("`msg_type` must be a string.", param="msg_type")
    priority = frame.get("priority")
    return services.message_send(app=app, sender=user, conv=conv, msg_type=msg_type,
                                 content=frame.get("content"), client_msg_id=client_msg_id,
                                 priority=priority if priority in ("low", "high") else None)


def send_many(app, conv_id: str, items: list[tuple[Any, dict[str, Any]]]) -> list:
    """Sends from several sessions into one conversation, coalesced (see services.message_send_many)."""
    try:
        conv = services.conversation_get(app_id=app.pk, mode=items[0][0].mode, conversation_id=conv_id)
    except ApiError as exc:
        return [exc] * len(items)
    if conv.kind != ConversationKind.GROUP:
        out = []
        for user, frame in items:
            try:
                out.append(send(app, user, frame))
            except ApiError as exc:
                out.append(exc)
        return out
    prepared = []
    for user, frame in items:
        client_msg_id = frame.get("client_msg_id") or ""
        msg_type = frame.get("msg_type", "text")
        if not isinstance(client_msg_id, str) or len(client_msg_id) > 64:
            client_msg_id = None
        prepared.append((user, msg_type if isinstance(msg_type, str) else "", frame.get("content"), client_msg_id))
    bad = [i for i, p in enumerate(prepared) if p[3] is None]
    good = [p for p in prepared if p[3] is not None]
    results = services.message_send_many(app=app, conv=conv, items=good)
    it = iter(results)
    return [ApiError("`client_msg_id` must be a string of at most 64 characters.", param="client_msg_id")
            if i in bad else next(it) for i in range(len(prepared))]


def room_check(app_id: str, mode: str, room_id: str) -> Conversation:
    return services.conversation_get(app_id=app_id, mode=mode, conversation_id=room_id,
                                     kinds=[ConversationKind.CHATROOM])


def room_backlog(app_id: str, room_id: str) -> list[str]:
    return state().room_backlog(app_id, room_id)


def recall(app, user, message_id: str) -> dict[str, Any]:
    msg = (Message.objects.filter(app_id=app.pk, conversation__mode=user.mode, pk=message_id)
           .select_related("conversation").first())
    if msg is None:
        raise NotFound("No such message.")
    msg = services.message_recall(app=app, message=msg, by=user)
    return services.message_data(msg, msg.conversation.kind)


def read(user, conv_id: str, seq: int) -> None:
    conv = services.conversation_get(app_id=user.app_id, mode=user.mode, conversation_id=conv_id)
    if not Member.objects.filter(conversation=conv, user=user).exists():
        raise ApiError("You are not a member of this conversation.", code="not_a_member", param="conversation_id")
    services.read_mark(user=user, conv=conv, seq=seq)
