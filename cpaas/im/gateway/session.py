"""One WebSocket session: auth'd user, outbound queue, per-conversation cursors, frame handlers.

The guarantee lives here. For every stored conversation the session keeps ``cursors[conv]``, the
last seq it has pushed to this socket. A live message is pushed only if it is exactly the next
one; an older one is a duplicate and dropped; a newer one means the bus reordered or lost events
(two senders committing close together, a restarted Redis) and the gap is read from the database
first. Because a seq is assigned under the conversation's row lock, every seq below a committed
one is itself committed, so the gap read always finds it. The client does the same with the
cursors it acks, which is what makes reconnects exactly-once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from cpaas.core.errors import ERROR_CODES, OUTAGE_ERRORS, ApiError
from cpaas.core.ids import new_id
from cpaas.core.parsers import json_loads
from cpaas.im import conf
from cpaas.im.bus import dumps
from cpaas.im.gateway import db
from cpaas.im.gateway.wsproto import encode_text

log = logging.getLogger(__name__)

MAX_FRAME_CHARS = conf.MAX_MESSAGE_BYTES + 8 * 1024
MAX_OUTBOUND = 50_000  # frames queued for a socket before we give up on it (client resyncs)
MAX_BUFFERED = 16 * 1024 * 1024  # bytes in a raw socket's write buffer before we give up on it
CONGESTED_BYTES = 1024 * 1024  # a sync waits while more than this is unsent
BATCH_MAX = 256  # frames coalesced into one WebSocket message when a socket falls behind


#: Close code when the database or Redis is unreachable: "try again later" (RFC 6455), retryable.
CLOSE_TRY_AGAIN_LATER = 1013
UNAVAILABLE = "service unavailable; reconnect with backoff and sync"


def error_frame(code: str, message: str, *, param: str | None = None, req_id: Any = None) -> str:
    """An ``error`` frame; ``retryable`` says whether the same frame can ever succeed if resent."""
    retryable = ERROR_CODES.get(code, (400, "", False))[2]
    return dumps({"type": "error", "id": req_id, "code": code, "message": message, "param": param,
                  "retryable": retryable})


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst, self.tokens, self.stamp = rate, burst, float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Session:
    def __init__(self, hub, send, *, app, user, token, device: str, raw: dict | None = None) -> None:
        self.hub, self._send = hub, send
        # with uvicorn's RawFrameProtocol: write pre-encoded frames to the transport (no task, no await)
        self._raw_write = raw["write"] if raw else None
        self._raw_buffered = raw["buffered"] if raw else None
        self.pending: list[bytes] = []
        self.app, self.user, self.token_id = app, user, token.id
        self.app_id, self.user_id = app.pk, user.user_id
        self.device = device or "default"
        self.id = new_id("ses")
        self.out: deque[str] = deque()
        self.wakeup = asyncio.Event()
        self.cursors: dict[str, int] = {}
        self.synced = False
        self.buffer: list[tuple[str, int, str]] = []
        self.filling: dict[str, list[tuple[int, str]]] = {}
        self.rooms: set[str] = set()
        self.closing: tuple[int, str] | None = None
        self.closed = False
        self.last_seen = time.monotonic()
        self.sendq: asyncio.Queue = asyncio.Queue()
        self.sync_lock = asyncio.Lock()
        self.bucket = TokenBucket(conf.CONNECTION_SEND_RATE, conf.CONNECTION_SEND_BURST)
        self.tasks: set[asyncio.Task] = set()
        self.expires_at = token.expires_at

    # --- outbound ---
    def push(self, frame: str, wire: bytes | None = None) -> None:
        """Queue one frame; ``wire`` is the same frame already WebSocket-encoded (shared by a fan-out)."""
        if self.closing:
            return
        if self._raw_write is not None:
            if not self.pending:
                self.hub.mark_dirty(self)
            self.pending.append(wire if wire is not None else encode_text(frame.encode()))
            return
        self.out.append(frame)
        if len(self.out) > MAX_OUTBOUND:
            self.out.clear()
            self.close(4008, "slow consumer")
            return
        self.wakeup.set()

    def flush(self) -> None:
        """Raw mode: write what this loop iteration queued in one transport write."""
        pending = self.pending
        if not pending or self.closed:
            pending.clear()
            return
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
        if not self._raw_write(data):
            self.closed = True
        elif self._raw_buffered() > MAX_BUFFERED:
            self.close(4008, "slow consumer")

    def congested(self) -> bool:
        if self._raw_write is not None:
            return self._raw_buffered() > CONGESTED_BYTES
        return len(self.out) > 2000

    def close(self, code: int, reason: str) -> None:
        if self.closing is None:
            self.closing = (code, reason)
            self.wakeup.set()

    async def writer(self) -> None:
        send, out = self._send, self.out
        try:
            while True:
                if self.closing:
                    code, reason = self.closing
                    self.flush()
                    await send({"type": "websocket.close", "code": code, "reason": reason[:120]})
                    return
                if not out:
                    self.wakeup.clear()
                    await self.wakeup.wait()
                    continue
                if len(out) == 1:
                    text = out.popleft()
                else:
                    n = min(len(out), BATCH_MAX)
                    text = "[" + ",".join([out.popleft() for _ in range(n)]) + "]"
                await send({"type": "websocket.send", "text": text})
        except Exception:  # the socket went away under us
            self.closed = True

    def spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._spawned_done)

    def _spawned_done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        if isinstance(error, OUTAGE_ERRORS):  # a sync or a cursor save that cannot reach the database
            self.unavailable()
        elif error is not None:
            log.error("im gateway task failed", exc_info=error)

    # --- the ordering core ---
    def on_msg(self, conv: str, seq: int, frame: str, wire: bytes | None = None) -> None:
        if not self.synced:
            self.buffer.append((conv, seq, frame))
            return
        pending = self.filling.get(conv)
        if pending is not None:
            pending.append((seq, frame))
            return
        cursor = self.cursors.get(conv)
        if cursor is not None:
            if seq <= cursor:
                return
            if seq == cursor + 1:
                self.cursors[conv] = seq
                self.push(frame, wire)
                return
        self.filling[conv] = [(seq, frame)]
        self.spawn(self._fill(conv))

    async def _fill(self, conv: str) -> None:
        cursor = self.cursors.get(conv)
        try:
            if cursor is None:
                cursor = await db.run(db.start_cursor, self.user, conv)
                if cursor is None:  # not (or no longer) a member
                    self.filling.pop(conv, None)
                    return
            target = max(seq for seq, _ in self.filling[conv])
            for seq, frame in await db.run(db.gap, conv, cursor, target):
                if seq > cursor:
                    self.push(frame)
                    cursor = seq
            self.cursors[conv] = max(cursor, target)
        except OUTAGE_ERRORS:
            self.unavailable()
            return
        except Exception:
            log.exception("im gateway gap fill failed")
            self.close(1011, "internal error; reconnect and sync")
            return
        pending = self.filling.pop(conv, [])
        for seq, frame in sorted(pending):
            self.on_msg(conv, seq, frame)

    async def sync(self, cursors: dict[str, int] | None) -> None:
        async with self.sync_lock:
            self.synced = False
            if cursors is None:
                cursors = await db.run(db.cursors_load, self.app_id, self.user_id, self.device)
            # The client's cursors are the truth for what it holds; elsewhere what this session pushed.
            plan = await db.run(db.plan, self.user, cursors)
            for conv, kind, start, last in plan:
                cursor = start if conv in cursors else max(start, self.cursors.get(conv, 0))
                while cursor < last:
                    while self.congested() and not self.closing:
                        await asyncio.sleep(0.005)
                    rows = await db.run(db.batch, conv, kind, cursor, conf.SYNC_PAGE)
                    for seq, frame in rows:
                        self.push(frame)
                        cursor = seq
                    if len(rows) < conf.SYNC_PAGE:
                        break
                self.cursors[conv] = cursor
            self.push(dumps({"type": "synced", "cursors": self.cursors}))
            self.synced = True
            buffered, self.buffer = self.buffer, []
            for conv, seq, frame in buffered:
                self.on_msg(conv, seq, frame)

    def resync(self) -> None:
        if self.synced and not self.closing:
            self.spawn(self.sync({}))

    # --- inbound ---
    async def sender(self) -> None:
        while True:
            frame = await self.sendq.get()
            req_id = frame.get("id")
            try:
                conv_id = frame.get("conversation_id")
                if isinstance(conv_id, str) and not frame.get("to") and frame.get("msg_type") != "command":
                    result = await self.hub.send_coalesced(self, conv_id, frame)
                    if isinstance(result, ApiError):
                        raise result
                else:
                    result = await db.run(db.send, self.app, self.user, frame, frozenset(self.rooms))
                self.push(dumps({"type": "sent", "id": req_id, "status": result.status, "message": result.message}))
            except ApiError as exc:
                self.push(error_frame(exc.code, exc.message, param=exc.param, req_id=req_id))
            except OUTAGE_ERRORS:
                self.unavailable(req_id)
            except Exception:
                log.exception("im gateway send failed")
                self.push(error_frame("internal_error", "The send failed; retry with the same client_msg_id.",
                                      req_id=req_id))

    async def handle(self, text: str | None) -> None:
        self.last_seen = time.monotonic()
        if text is None:
            self.push(error_frame("invalid_json", "Send frames as JSON text."))
            return
        if len(text) > MAX_FRAME_CHARS:
            self.push(error_frame("message_too_large", f"Frames are limited to {MAX_FRAME_CHARS} characters.",
                                  param="content"))
            return
        try:
            frame = json_loads(text)  # refuses NUL, lone surrogates and deep nesting, as the API does
        except ApiError as exc:
            message = "The frame is not valid JSON." if exc.code == "invalid_json" else exc.message
            self.push(error_frame(exc.code, message, param=exc.param))
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            self.push(error_frame("unknown_frame", "A frame is a JSON object with a `type`.", param="type"))
            return
        kind, req_id = frame["type"], frame.get("id")
        if kind == "ping":
            self.push(dumps({"type": "pong", "id": req_id}))
            self.spawn(db.run(db.presence_refresh, self.app_id, self.user_id, self.id))
            return
        if kind == "ack":
            cursors = frame.get("cursors")
            if isinstance(cursors, dict):
                clean = {k: int(v) for k, v in cursors.items() if isinstance(k, str) and isinstance(v, int)}
                self.spawn(db.run(db.cursors_save, self.app_id, self.user_id, self.device, clean))
            return
        if kind == "sync":
            cursors = frame.get("cursors")
            if cursors is not None and not (isinstance(cursors, dict)
                                            and all(isinstance(v, int) for v in cursors.values())):
                self.push(error_frame("invalid_request", "`cursors` maps conversation ids to seq numbers.",
                                      param="cursors", req_id=req_id))
                return
            self.spawn(self.sync(cursors))
            return
        if kind not in ("send", "recall", "read", "join", "leave"):
            self.push(error_frame("unknown_frame", f"Unknown frame type `{kind}`.", param="type", req_id=req_id))
            return
        if not self.bucket.take():
            self.push(error_frame("rate_limited", "Slow down: too many frames.", req_id=req_id))
            return
        if kind == "send":
            self.sendq.put_nowait(frame)
        elif kind == "recall":
            self.spawn(self._call(req_id, "recalled", db.recall, self.app, self.user, str(frame.get("message_id"))))
        elif kind == "read":
            seq = frame.get("seq")
            if not isinstance(seq, int) or seq < 0:
                self.push(error_frame("invalid_request", "`seq` must be a non-negative integer.", param="seq",
                                      req_id=req_id))
                return
            self.spawn(self._call(req_id, "read_ok", db.read, self.user, str(frame.get("conversation_id")), seq))
        elif kind == "join":
            self.spawn(self._join(req_id, frame.get("chatroom_id")))
        elif kind == "leave":
            room = frame.get("chatroom_id")
            if room in self.rooms:
                self.hub.room_leave(self, room)
            self.push(dumps({"type": "left", "id": req_id, "chatroom_id": room}))

    def unavailable(self, req_id: Any = None) -> None:
        """A dependency is down: say so (retryable) and close with 1013 so the client reconnects later."""
        log.warning("im gateway dependency unavailable; closing session %s", self.id)
        self.push(error_frame("service_unavailable", "The service is unavailable; reconnect later and resend.",
                              req_id=req_id))
        self.close(CLOSE_TRY_AGAIN_LATER, UNAVAILABLE)

    async def _call(self, req_id, ok_type: str, fn, *args) -> None:
        try:
            result = await db.run(fn, *args)
            self.push(dumps({"type": ok_type, "id": req_id, "result": result}))
        except ApiError as exc:
            self.push(error_frame(exc.code, exc.message, param=exc.param, req_id=req_id))
        except OUTAGE_ERRORS:
            self.unavailable(req_id)

    async def _join(self, req_id, room_id) -> None:
        if not isinstance(room_id, str):
            self.push(error_frame("invalid_request", "`chatroom_id` is required.", param="chatroom_id",
                                  req_id=req_id))
            return
        try:
            room = await db.run(db.room_check, self.app_id, self.user.mode, room_id)
        except ApiError as exc:
            self.push(error_frame(exc.code, exc.message, param="chatroom_id", req_id=req_id))
            return
        if room.dismissed_at is not None:
            self.push(error_frame("conversation_dismissed", "The chatroom is closed.", param="chatroom_id",
                                  req_id=req_id))
            return
        self.hub.room_join(self, room_id)
        backlog = await db.run(db.room_backlog, self.app_id, room_id)
        self.push(dumps({"type": "joined", "id": req_id, "chatroom_id": room_id, "recent": len(backlog)}))
        for frame in backlog:
            self.push(frame)
