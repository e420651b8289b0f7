"""The engine inside a worker process: one event loop in a background thread drives every call.

A ``call_dispatch`` task (voice queue) claims a queued call and hands it to this process's
engine, then returns: the Celery worker stays free for the next call while the loop plays this
one out. API controls (hang up, redirect) reach the engine running a call through a Redis
channel (``cpaas:voice:control``) and, in the same process, directly.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

from cpaas.carriers.voice_base import RealClock, VoiceConnector, voice_connector_class
from cpaas.voice import conf
from cpaas.voice.engine import CallEngine
from cpaas.voice.urlguard import TenantClients

log = logging.getLogger(__name__)

CONTROL_CHANNEL = "cpaas:voice:control"

# Engines living in this process, with their loops, so a control is delivered without Redis.
_engines: weakref.WeakKeyDictionary[CallEngine, asyncio.AbstractEventLoop] = weakref.WeakKeyDictionary()


def register_engine(engine: CallEngine, loop: asyncio.AbstractEventLoop) -> None:
    _engines[engine] = loop


def notify_control(call_id: str) -> None:
    for engine, loop in list(_engines.items()):
        if not loop.is_closed():
            loop.call_soon_threadsafe(engine.control, call_id)
    if settings.REDIS_URL:
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL).publish(CONTROL_CHANNEL, call_id)
        except redis.RedisError:
            log.warning("could not publish a voice control for %s", call_id, exc_info=True)


class EngineRuntime:
    def __init__(self, *, speed: float | None = None) -> None:
        self.speed = speed if speed is not None else conf.VOICE_SANDBOX_SPEED
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name="voice-engine", daemon=True)
        self.engine: CallEngine | None = None

    def start(self) -> EngineRuntime:
        self.thread.start()
        self.ready.wait(10)
        return self

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.set_default_executor(ThreadPoolExecutor(conf.VOICE_ENGINE_DB_THREADS, "voice-db"))
        clock = RealClock(self.speed)
        sandbox = voice_connector_class("sandbox")(clock=clock)
        live: VoiceConnector = (sandbox if conf.VOICE_LIVE_CONNECTOR == "sandbox"
                                else voice_connector_class(conf.VOICE_LIVE_CONNECTOR)(clock=clock))
        # Tenant URLs: through the egress (cpaas/core/egress), keep-alive, one small pool per origin.
        http = TenantClients()
        self.engine = CallEngine(clock=clock, connector_for=lambda mode: sandbox if mode == "test" else live, http=http,
                                 db_thread_sensitive=False, group_commit=True)
        register_engine(self.engine, self.loop)
        if settings.REDIS_URL:
            self.loop.create_task(self._listen())
        self.ready.set()
        self.loop.run_forever()

    async def _listen(self) -> None:
        import redis.asyncio as aioredis

        while True:
            try:
                client = aioredis.Redis.from_url(settings.REDIS_URL)
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CONTROL_CHANNEL)
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            self.engine.control(message["data"].decode())
            except Exception:
                log.warning("voice control listener lost Redis; reconnecting", exc_info=True)
                await asyncio.sleep(1)

    def submit(self, call_id: str) -> None:
        future = asyncio.run_coroutine_threadsafe(self.engine.run_call(call_id), self.loop)
        future.add_done_callback(_log_failure)


def _log_failure(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("voice engine run failed", exc_info=future.exception())


_runtime: EngineRuntime | None = None
_lock = threading.Lock()


def get_runtime() -> EngineRuntime:
    """This process's engine, started on first use (after the worker forked)."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = EngineRuntime().start()
        return _runtime
