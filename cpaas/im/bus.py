"""The gateway bus: how a message committed in one process reaches sockets held by every gateway.

With ``REDIS_URL`` every gateway process subscribes to one Redis pub/sub channel and each
publisher (a gateway handling a send, or an API worker) PUBLISHes one JSON document per event.
Each gateway delivers the event to the sockets it holds locally. Without Redis (the embedded
default: one process serves HTTP and WebSocket) the bus is a list of in-process listeners.

Pub/sub is at-most-once: a gateway that misses an event (restart, reconnect to Redis) still
delivers every stored message, because ordering and completeness come from the database (see
gateway/session.py: a seq gap is filled from history, a reconnecting client syncs from cursors).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from django.conf import settings

from cpaas.im import conf

log = logging.getLogger(__name__)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


class LocalBus:
    """In-process listeners (each with its event loop); thread-safe publish."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[tuple[asyncio.AbstractEventLoop, Callable[[str], None]]] = []

    def publish(self, event: dict[str, Any]) -> None:
        self.publish_raw(dumps(event))

    def publish_raw(self, raw: str) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for loop, callback in listeners:
            try:
                loop.call_soon_threadsafe(callback, raw)
            except RuntimeError:  # loop closed
                self.unsubscribe(callback)

    def subscribe(self, loop: asyncio.AbstractEventLoop, callback: Callable[[str], None]) -> None:
        with self._lock:
            self._listeners.append((loop, callback))

    def unsubscribe(self, callback: Callable[[str], None]) -> None:
        with self._lock:
            self._listeners = [(lp, cb) for lp, cb in self._listeners if cb is not callback]


class RedisBus(LocalBus):
    """Redis pub/sub; local listeners are fed by each gateway's own subscriber task."""

    def __init__(self, url: str) -> None:
        super().__init__()
        import redis

        self.url = url
        self.client = redis.Redis.from_url(url, socket_timeout=5, health_check_interval=30)

    def publish(self, event: dict[str, Any]) -> None:
        raw = dumps(event)
        try:
            self.client.publish(conf.BUS_CHANNEL, raw)
        except Exception:
            # The message is committed; a client that missed it gets it on its next sync.
            log.exception("im bus publish failed")


@lru_cache(maxsize=1)
def bus() -> LocalBus:
    return RedisBus(settings.REDIS_URL) if settings.REDIS_URL else LocalBus()


@lru_cache(maxsize=1)
def redis_client():
    """The sync Redis client of this process, or None in the embedded default."""
    if not settings.REDIS_URL:
        return None
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, health_check_interval=30)
