"""The per-process hub: which sessions this gateway holds, and the bus listener feeding them.

One hub per event loop. It indexes live sessions by (app, user) and by (app, chatroom), receives
every bus event (one Redis pub/sub subscription per hub), and hands each
event to the local sessions it concerns. A frame is encoded once per event, not once per socket.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections import defaultdict
from typing import TYPE_CHECKING

from cpaas.core.errors import ApiError
from cpaas.core.metrics import IM_SOCKETS
from cpaas.core.redis_client import async_redis_client
from cpaas.im import conf
from cpaas.im.gateway.wsproto import encode_text

SWITCH_INTERVAL = 0.001

if TYPE_CHECKING:
    from cpaas.im.gateway.session import Session

log = logging.getLogger(__name__)


class Hub:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.users: dict[tuple[str, str], set[Session]] = defaultdict(set)
        self.apps: dict[str, set[Session]] = defaultdict(set)
        self.rooms: dict[tuple[str, str], set[Session]] = defaultdict(set)
        self.ready = asyncio.Event()
        self.tasks: list[asyncio.Task] = []
        self.stopped = False
        self.events_in = 0
        # per conversation: [last seq dispatched, {seq: event} held back, flush timer]
        self.convs: dict[str, list] = {}
        # sends waiting per (app, conversation), and the conversations with a batch in flight
        self.sends: dict[tuple[str, str], list] = {}
        self.sending: set[tuple[str, str]] = set()
        # raw-mode sessions with frames queued this loop iteration (one write each, then cleared)
        self.dirty: list[Session] = []

    # --- lifecycle ---
    def start(self) -> None:
        # A thread holding the GIL keeps it up to the switch interval (5 ms) while the event loop
        # waits; 1 ms bounds what the gateway's database threads add to a delivery's latency.
        # Process-wide, so it is set here, where a process starts being a gateway.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        self.tasks.append(self.loop.create_task(self._redis_listener()))
        self.tasks.append(self.loop.create_task(self._watchdog()))
        if conf.OUTBOX_INTERVAL_SECONDS > 0:
            self.tasks.append(self.loop.create_task(self._outbox()))

    async def stop(self, code: int = 1012, reason: str = "server restart") -> None:
        self.stopped = True
        for task in self.tasks:
            task.cancel()
        sessions = [s for group in self.apps.values() for s in group]
        for session in sessions:
            session.close(code, reason)
        if sessions:
            await asyncio.sleep(0.05)

    async def _redis_listener(self) -> None:
        first = True
        while not self.stopped:
            client = async_redis_client()
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(conf.BUS_CHANNEL)
                if not first:
                    # Events published while we were not subscribed are lost to pub/sub; the
                    # database is not: every session catches up from its cursors.
                    for group in list(self.apps.values()):
                        for session in list(group):
                            session.resync()
                first = False
                self.ready.set()
                while not self.stopped:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                    if message is not None and message["type"] == "message":
                        self.dispatch(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("im gateway bus listener failed; reconnecting")
                self.ready.clear()
                await asyncio.sleep(0.5)
            finally:
                try:
                    await pubsub.aclose()
                    await client.aclose()
                except Exception:  # noqa: S110 - closing a broken connection
                    pass

    async def _outbox(self) -> None:
        """Drain the message outbox (webhook events, usage) off the send path; see cpaas.im.outbox."""
        from cpaas.im.gateway import db
        from cpaas.im.outbox import BATCH, publish_pending

        while not self.stopped:
            await asyncio.sleep(conf.OUTBOX_INTERVAL_SECONDS)
            try:
                while await db.run(publish_pending) >= BATCH:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("im outbox drain failed")

    async def _watchdog(self) -> None:
        """Close sessions silent for three heartbeats (half-open TCP, a frozen client)."""
        while not self.stopped:
            await asyncio.sleep(conf.HEARTBEAT_SECONDS)
            deadline = time.monotonic() - 3 * conf.HEARTBEAT_SECONDS
            for group in list(self.apps.values()):
                for session in list(group):
                    if session.last_seen < deadline:
                        session.close(4000, "heartbeat timeout")

    # --- registry ---
    def add(self, session: Session) -> None:
        sessions = self.users[(session.app_id, session.user_id)]
        if session not in sessions:
            IM_SOCKETS.inc()
        sessions.add(session)
        self.apps[session.app_id].add(session)

    def remove(self, session: Session) -> None:
        key = (session.app_id, session.user_id)
        if session in self.users.get(key, ()):
            IM_SOCKETS.dec()
        self.users[key].discard(session)
        if not self.users[key]:
            del self.users[key]
        self.apps[session.app_id].discard(session)
        if not self.apps[session.app_id]:
            del self.apps[session.app_id]
        for room in list(session.rooms):
            self.room_leave(session, room)

    def room_join(self, session: Session, room_id: str) -> None:
        self.rooms[(session.app_id, room_id)].add(session)
        session.rooms.add(room_id)

    def room_leave(self, session: Session, room_id: str) -> None:
        key = (session.app_id, room_id)
        self.rooms[key].discard(session)
        if not self.rooms[key]:
            del self.rooms[key]
        session.rooms.discard(room_id)

    def count(self) -> int:
        return sum(len(group) for group in self.apps.values())

    # --- raw writes ---
    def mark_dirty(self, session: Session) -> None:
        if not self.dirty:
            self.loop.call_soon(self.flush)
        self.dirty.append(session)

    def flush(self) -> None:
        dirty, self.dirty = self.dirty, []
        for session in dirty:
            session.flush()

    # --- events ---
    def _targets(self, app_id: str, to) -> list[Session]:
        if isinstance(to, str):  # "*<mode>": a broadcast reaches the app's users of that mode only
            mode = to[1:]
            return [s for s in self.apps.get(app_id, ()) if s.user.mode == mode]
        out: list[Session] = []
        users = self.users
        for user_id in to:
            group = users.get((app_id, user_id))
            if group:
                out.extend(group)
        return out

    def dispatch(self, raw: str | bytes) -> None:
        try:
            event = json.loads(raw)
            self.events_in += 1
            kind, app_id = event["k"], event["app"]
            if kind == "msg":
                self._reorder(event)
            elif kind == "cmd":
                self._push(self._targets(app_id, event["to"]), event["frame"])
            elif kind == "room":
                self._push(list(self.rooms.get((app_id, event["room"]), ())), event["frame"])
            elif kind == "room_close":
                for session in list(self.rooms.get((app_id, event["room"]), ())):
                    self.room_leave(session, event["room"])
                    session.push(json.dumps({"type": "left", "chatroom_id": event["room"], "reason": "closed"}))
            elif kind == "kick":
                for session in list(self.users.get((app_id, event["user"]), ())):
                    if event.get("token") in (None, session.token_id):
                        session.close(int(event["code"]), str(event["reason"]))
        except Exception:
            log.exception("im gateway could not dispatch a bus event")


    # --- coalesced sends ---
    async def send_coalesced(self, session: Session, conv_id: str, frame: dict):
        """Send through the conversation's queue: while one batch is in the database, the sends
        arriving for the same conversation wait and then go together in one transaction."""
        from cpaas.im.gateway import db

        key = (session.app_id, conv_id)
        if not self._is_room(session, conv_id):
            future = self.loop.create_future()
            self.sends.setdefault(key, []).append((session, frame, future))
            if key not in self.sending:
                self.loop.create_task(self._send_batches(key))
            return await future
        return await db.run(db.send, session.app, session.user, frame, frozenset(session.rooms))

    @staticmethod
    def _is_room(session: Session, conv_id: str) -> bool:
        return conv_id in session.rooms

    async def _send_batches(self, key: tuple[str, str]) -> None:
        from cpaas.im.gateway import db

        self.sending.add(key)
        try:
            while self.sends.get(key):
                queue = self.sends[key]
                batch, self.sends[key] = queue[:SEND_BATCH_MAX], queue[SEND_BATCH_MAX:]
                try:
                    results = await db.run(db.send_many, batch[0][0].app, key[1],
                                           [(session.user, frame) for session, frame, _ in batch])
                except Exception as exc:
                    results = [exc] * len(batch)
                for (_session, _frame, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        if isinstance(result, Exception) and not isinstance(result, ApiError):
                            future.set_exception(result)
                        else:
                            future.set_result(result)
            self.sends.pop(key, None)
        finally:
            self.sending.discard(key)

    @staticmethod
    def _push(sessions, frame: str) -> None:
        if sessions:  # every gateway hears every event: encode only where it is sent
            wire = encode_text(frame.encode())
            for session in sessions:
                session.push(frame, wire)

    def _deliver(self, event: dict) -> None:
        targets = self._targets(event["app"], event["to"])
        if not targets:  # every gateway hears every event: encode only where it is sent
            return
        conv, seq, frame = event["conv"], event["seq"], event["frame"]
        wire = encode_text(frame.encode())
        for session in targets:
            session.on_msg(conv, seq, frame, wire)

    def _reorder(self, event: dict) -> None:
        """Put a conversation's events back in seq order before they reach sessions.

        Concurrent senders commit in seq order but their PUBLISHes can overtake each other. A
        session would repair that from the database (once per socket); holding the early event
        for up to REORDER_WAIT until the missing ones arrive repairs it once per process, for free.
        """
        conv, seq = event["conv"], event["seq"]
        state = self.convs.get(conv)
        if state is None:
            if len(self.convs) > 100_000:
                self.convs.clear()
            self.convs[conv] = [seq, {}, None]
            self._deliver(event)
            return
        last, held, _timer = state
        if seq <= last:
            self._deliver(event)
            return
        if seq == last + 1:
            self._deliver(event)
            last = seq
            while last + 1 in held:
                last += 1
                self._deliver(held.pop(last))
            state[0] = last
            if not held and state[2] is not None:
                state[2].cancel()
                state[2] = None
            return
        held[seq] = event
        if state[2] is None:
            state[2] = self.loop.call_later(REORDER_WAIT, self._release, conv)

    def _release(self, conv: str) -> None:
        """The missing events did not come (lost, or slow): let the sessions read them from the database."""
        state = self.convs.get(conv)
        if state is None:
            return
        held, state[1], state[2] = state[1], {}, None
        for seq in sorted(held):
            self._deliver(held[seq])
            state[0] = max(state[0], seq)


REORDER_WAIT = 0.05
SEND_BATCH_MAX = 100

_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}


def get_hub() -> Hub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None or hub.stopped:
        hub = _hubs[loop] = Hub(loop)
        hub.start()
    return hub


async def stop_hub() -> None:
    loop = asyncio.get_running_loop()
    hub = _hubs.pop(loop, None)
    if hub is not None:
        await hub.stop()
