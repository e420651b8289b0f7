"""A Python client of the IM gateway (asyncio + websockets), implementing docs/im-protocol.md.

    client = ImClient("ws://localhost:8000/v1/im/connect", token)
    await client.start()                       # connects, syncs, keeps reconnecting
    sent = await client.send(to="bob", content={"text": "hi"})
    async for message in client.messages():    # every stored message exactly once, in seq order
        ...

The client keeps a cursor per conversation (the last seq it accepted) and acks it. A reconnect
(dropped network, a gateway restarted) syncs from those cursors, and sends that were not yet
acknowledged are sent again with the same ``client_msg_id``, which the server deduplicates. So the
application sees each message once, in order, whatever happened to the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any
from urllib.parse import urlencode

import websockets
from websockets.asyncio.client import ClientConnection, connect

log = logging.getLogger(__name__)

FATAL_CLOSE_CODES = {1008: "refused", 4001: "unauthorized", 4003: "banned"}
RETRYABLE_ERRORS = {"rate_limited", "internal_error"}


class ImError(Exception):
    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.param = code, message, param


class ConnectionRefused(ImError):
    """The server closed with 4001 (bad/expired/revoked token) or 4003 (banned): do not retry."""

    def __init__(self, close_code: int, reason: str) -> None:
        super().__init__(FATAL_CLOSE_CODES.get(close_code, "closed"), reason)
        self.close_code = close_code


class ImClient:
    def __init__(self, urls: str | Sequence[str], token: str, *, device: str = "default",
                 cursors: dict[str, int] | None = None, keep: bool = False,
                 on_message: Callable[[dict], Any] | None = None, on_event: Callable[[dict], Any] | None = None,
                 heartbeat: float = 20.0, ack_interval: float = 0.2, reconnect: bool = True,
                 max_backoff: float = 3.0) -> None:
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        self.token, self.device = token, device
        self.cursors: dict[str, int] = dict(cursors or {})
        self.keep = keep
        self.store: dict[str, list[dict]] = {}
        self.on_message, self.on_event = on_message, on_event
        self.heartbeat, self.ack_interval = heartbeat, ack_interval
        self.reconnect, self.max_backoff = reconnect, max_backoff
        self.connected = asyncio.Event()
        self.synced = asyncio.Event()
        self.closed: ConnectionRefused | None = None
        self.connects = 0
        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._pending: dict[str, tuple[dict, asyncio.Future]] = {}
        self._calls: dict[str, asyncio.Future] = {}
        self._inbox: asyncio.Queue = asyncio.Queue()
        self._acked: dict[str, int] = {}
        self._replaying = False
        self._stop = False
        self._runner: asyncio.Task | None = None
        self._url_index = random.randrange(len(self.urls))

    # --- lifecycle ---
    async def start(self, timeout: float = 10.0) -> None:
        self._stop = False
        self._runner = asyncio.get_running_loop().create_task(self._run())
        await asyncio.wait_for(self.synced.wait(), timeout)

    async def close(self) -> None:
        self._stop = True
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner

    async def drop(self) -> None:
        """Drop the connection abruptly (tests use this to simulate a network failure)."""
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                ws.transport.abort()

    def _next_url(self) -> str:
        self._url_index = (self._url_index + 1) % len(self.urls)
        base = self.urls[self._url_index]
        return f"{base}?{urlencode({'device': self.device})}"

    async def _run(self) -> None:
        backoff = 0.05
        while not self._stop:
            try:
                async with connect(self._next_url(), max_size=2**22, open_timeout=5, ping_interval=None,
                                   compression=None,
                                   additional_headers={"Authorization": f"Bearer {self.token}"}) as ws:
                    self._ws = ws
                    self.connects += 1
                    backoff = 0.05
                    await self._session(ws)
            except (websockets.ConnectionClosed, ConnectionRefused) as exc:
                refused: ConnectionRefused | None
                if isinstance(exc, ConnectionRefused):
                    refused = exc
                else:
                    code = exc.rcvd.code if exc.rcvd else None
                    fatal = exc.rcvd is not None and code in FATAL_CLOSE_CODES
                    refused = ConnectionRefused(code, exc.rcvd.reason) if fatal and exc.rcvd else None
                if refused is not None:
                    self.closed = refused
                    self._fail_all(self.closed)
                    self.synced.set()  # wake waiters; they see .closed
                    return
            except websockets.InvalidStatus as exc:  # 429: too many bad tokens from this address
                retry_after = exc.response.headers.get("Retry-After", "") if exc.response.status_code == 429 else ""
                backoff = max(backoff, float(retry_after)) if retry_after.isdigit() else backoff
            except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI):
                pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("im client session failed")
            finally:
                self._ws = None
                self.connected.clear()
                self.synced.clear()
            if not self.reconnect or self._stop:
                return
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(self.max_backoff, backoff * 2)

    async def _session(self, ws) -> None:
        self.connected.set()
        self._replaying = True
        await ws.send(json.dumps({"type": "sync", "cursors": self.cursors}))
        helpers = [asyncio.get_running_loop().create_task(self._heartbeat(ws)),
                   asyncio.get_running_loop().create_task(self._acker(ws))]
        try:
            async for raw in ws:
                frames = json.loads(raw)
                for frame in frames if isinstance(frames, list) else (frames,):
                    await self._on_frame(ws, frame)
        finally:
            for task in helpers:
                task.cancel()
        # the iterator ends quietly on a normal close (1000/1001); a 4001/4003 raises above
        rcvd = ws.protocol.close_rcvd
        if rcvd is not None and rcvd.code in FATAL_CLOSE_CODES:
            raise ConnectionRefused(rcvd.code, rcvd.reason)

    async def _heartbeat(self, ws) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            await ws.send('{"type":"ping"}')

    async def _acker(self, ws) -> None:
        while True:
            await asyncio.sleep(self.ack_interval)
            changed = {c: s for c, s in self.cursors.items() if self._acked.get(c) != s}
            if changed:
                await ws.send(json.dumps({"type": "ack", "cursors": changed}))
                self._acked.update(changed)

    # --- inbound ---
    async def _on_frame(self, ws, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "msg":
            self._accept(ws, frame["message"])
        elif kind == "synced":
            self._replaying = False
            self.synced.set()
            # sends not yet acknowledged go again, same client_msg_id: the server answers with the original
            for frame_out, _future in list(self._pending.values()):
                await ws.send(json.dumps(frame_out))
        elif kind == "sent":
            entry = self._pending.pop(str(frame.get("id")), None)
            if entry and not entry[1].done():
                entry[1].set_result(frame)
        elif kind == "error" and frame.get("id") is not None:
            await self._on_error(ws, frame)
        elif kind in ("recalled", "read_ok", "joined", "left") and str(frame.get("id")) in self._calls:
            future = self._calls.pop(str(frame.get("id")))
            if not future.done():
                future.set_result(frame)
            if kind == "joined":
                await self._event(frame)
        else:
            await self._event(frame)

    async def _on_error(self, ws, frame: dict) -> None:
        req_id = str(frame["id"])
        error = ImError(frame.get("code", "error"), frame.get("message", ""), frame.get("param"))
        entry = self._pending.get(req_id)
        if entry is not None:
            # The server marks each error; older servers did not, hence the fallback list.
            if frame.get("retryable", error.code in RETRYABLE_ERRORS):
                asyncio.get_running_loop().create_task(self._resend_later(ws, entry[0]))
                return
            self._pending.pop(req_id, None)
            if not entry[1].done():
                entry[1].set_exception(error)
            return
        future = self._calls.pop(req_id, None)
        if future is not None and not future.done():
            future.set_exception(error)

    async def _resend_later(self, ws, frame: dict) -> None:
        await asyncio.sleep(0.1 + random.random() * 0.2)
        with contextlib.suppress(Exception):
            await ws.send(json.dumps(frame))

    def _accept(self, ws, message: dict) -> None:
        conv, seq = message["conversation_id"], message.get("seq")
        if seq is not None and message.get("conversation_type") != "chatroom":
            cursor = self.cursors.get(conv)
            if cursor is not None and seq <= cursor:
                return  # a duplicate: already accepted
            if cursor is not None and seq != cursor + 1 and not self._replaying:
                # a hole in live delivery: ask for a sync from the cursor instead of skipping ahead
                self._replaying = True
                asyncio.get_running_loop().create_task(ws.send(json.dumps({"type": "sync", "cursors": self.cursors})))
                return
            self.cursors[conv] = seq
        if self.keep:
            self.store.setdefault(conv, []).append(message)
        self._inbox.put_nowait(message)
        if self.on_message is not None:
            self.on_message(message)

    async def _event(self, frame: dict) -> None:
        if self.on_event is not None:
            result = self.on_event(frame)
            if asyncio.iscoroutine(result):
                await result

    def _fail_all(self, error: Exception) -> None:
        for _frame, future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()

    # --- outbound ---
    async def messages(self) -> AsyncIterator[dict]:
        while True:
            yield await self._inbox.get()

    async def next_message(self, timeout: float = 5.0) -> dict:
        return await asyncio.wait_for(self._inbox.get(), timeout)

    async def send(self, *, conversation_id: str | None = None, to: str | None = None, content: dict,
                   type: str = "text", client_msg_id: str | None = None, priority: str | None = None,
                   timeout: float = 30.0) -> dict:
        """Send and wait for the server's ``sent`` frame (survives reconnects). Returns the message."""
        if self.closed:
            raise self.closed
        req_id = str(next(self._ids))
        frame = {"type": "send", "id": req_id, "msg_type": type, "content": content,
                 "client_msg_id": client_msg_id or uuid.uuid4().hex}
        if conversation_id:
            frame["conversation_id"] = conversation_id
        if to:
            frame["to"] = to
        if priority:
            frame["priority"] = priority
        future = asyncio.get_running_loop().create_future()
        self._pending[req_id] = (frame, future)
        if self._ws is not None and self.synced.is_set():
            with contextlib.suppress(Exception):
                await self._ws.send(json.dumps(frame))
        sent = await asyncio.wait_for(future, timeout)
        return {**sent["message"], "status": sent["status"]}

    async def _call(self, frame: dict, timeout: float = 10.0) -> dict:
        req_id = str(next(self._ids))
        frame["id"] = req_id
        future = asyncio.get_running_loop().create_future()
        self._calls[req_id] = future
        await asyncio.wait_for(self.connected.wait(), timeout)
        await self._socket().send(json.dumps(frame))
        return await asyncio.wait_for(future, timeout)

    async def join(self, chatroom_id: str) -> dict:
        return await self._call({"type": "join", "chatroom_id": chatroom_id})

    async def leave(self, chatroom_id: str) -> dict:
        return await self._call({"type": "leave", "chatroom_id": chatroom_id})

    async def read(self, conversation_id: str, seq: int) -> dict:
        return await self._call({"type": "read", "conversation_id": conversation_id, "seq": seq})

    async def recall(self, message_id: str) -> dict:
        return await self._call({"type": "recall", "message_id": message_id})

    async def raw(self, text: str) -> None:
        """Send a raw frame (for tests of the server's error handling)."""
        await self._socket().send(text)

    def _socket(self) -> ClientConnection:
        if self._ws is None:
            raise ImError("not_connected", "the client is not connected; await start() first")
        return self._ws
