"""The engine inside a worker process: one event loop in a background thread drives every call.

A ``call_dispatch`` task (voice queue) claims a queued call and hands it to this process's
engine, then returns: the Celery worker stays free for the next call while the loop plays this
one out.

API controls (hang up, redirect) are written to the call's row (``pending_control``); the engine
finds them by polling the rows of its live calls every ``VOICE_CONTROL_POLL_SECONDS``, the same
path on the embedded default and in production. An engine in the process that
took the control (tests) is also woken at once. The same loop renews the engine's lease
(cpaas/voice/lease.py), which the sweeper reads to end the calls of an engine that died.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

from cpaas.carriers import registry
from cpaas.carriers.base import VoiceConnector
from cpaas.carriers.clock import RealClock
from cpaas.carriers.sip.config import SipConfig
from cpaas.carriers.sip.router import TrunkRouter
from cpaas.carriers.sip.trust import trust_secret_from
from cpaas.voice import conf
from cpaas.voice.engine import CallEngine
from cpaas.voice.lease import engine_name, lease_renew, pending_controls
from cpaas.voice.trunks import trunk_routes
from cpaas.voice.urlguard import TenantClients

log = logging.getLogger(__name__)

# Engines living in this process, with their loops, so a control taken here wakes them at once.
_engines: weakref.WeakKeyDictionary[CallEngine, asyncio.AbstractEventLoop] = weakref.WeakKeyDictionary()


def register_engine(engine: CallEngine, loop: asyncio.AbstractEventLoop) -> None:
    _engines[engine] = loop


def notify_control(call_id: str) -> None:
    """Wake an engine of this process at once; engines elsewhere find the control by polling."""
    for engine, loop in list(_engines.items()):
        if not loop.is_closed():
            loop.call_soon_threadsafe(engine.control, call_id)


def live_config(*, inbound: bool) -> dict:
    """The live connector's configuration; the SIP worker (``inbound``) listens on SIP_WORKER_ADDRESS,
    every other process on an ephemeral port of its own (its calls' dialogs name it)."""
    config = dict(conf.VOICE_LIVE_CONNECTOR_CONFIG)
    if conf.VOICE_LIVE_CONNECTOR == "sip" and conf.SIP_EDGE_ADDRESS:
        config.setdefault("edge", conf.SIP_EDGE_ADDRESS)
        config.setdefault("edge_secret", trust_secret_from(settings.SECRET_KEY))
    if conf.VOICE_LIVE_CONNECTOR == "sip" and inbound and conf.SIP_WORKER_ADDRESS:
        host, _, port = conf.SIP_WORKER_ADDRESS.rpartition(":")
        config.update(listen_host=host or "127.0.0.1", listen_port=int(port))
    return config


def live_connector(clock: RealClock, *, inbound: bool) -> VoiceConnector | None:
    """The connector of live calls: none (``no_route``), the SIP trunks of the ``SipTrunk`` rows
    (routes and failover), or the one connector ``VOICE_LIVE_CONNECTOR(_CONFIG)`` describe."""
    if conf.VOICE_LIVE_CONNECTOR in ("", "sandbox"):
        return None
    config = live_config(inbound=inbound)
    if conf.VOICE_LIVE_CONNECTOR == "sip" and (routes := trunk_routes()):
        return TrunkRouter(clock=clock, routes=routes, listener=SipConfig.parse(config))
    return registry.voice_connector(conf.VOICE_LIVE_CONNECTOR, clock=clock, config=config)


class EngineRuntime:
    def __init__(self, *, speed: float | None = None, inbound: bool = False) -> None:
        """``inbound``: this engine also takes the calls the live network offers (manage.py sip_worker)."""
        self.inbound = inbound
        self.speed = speed if speed is not None else conf.VOICE_SANDBOX_SPEED
        # Built first, in the caller, so a VOICE_LIVE_CONNECTOR the registry does not know fails
        # the dispatch with its name (UnknownKind) instead of killing the engine thread.
        self.clock = RealClock(self.speed)
        self.sandbox = registry.voice_connector("sandbox", clock=self.clock)
        # A live call never rides the sandbox network: without a live connector it fails (no_route).
        self.live = live_connector(self.clock, inbound=inbound)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name="voice-engine", daemon=True)
        self.engine: CallEngine | None = None
        self.name = engine_name()
        self.started = None  # the SIP worker's listen (a concurrent Future), when ``inbound``

    def start(self) -> EngineRuntime:
        self.thread.start()
        self.ready.wait(10)
        return self

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.set_default_executor(ThreadPoolExecutor(conf.VOICE_ENGINE_DB_THREADS, "voice-db"))
        sandbox, live = self.sandbox, self.live
        # Tenant URLs: through the egress (cpaas/core/egress), keep-alive, one small pool per origin.
        http = TenantClients()
        self.engine = CallEngine(clock=self.clock, connector_for=lambda mode: sandbox if mode == "test" else live,
                                 http=http, db_thread_sensitive=False, group_commit=True, name=self.name)
        register_engine(self.engine, self.loop)
        self.loop.create_task(self._watch())
        if self.inbound and live is not None:
            # The SIP worker: its socket opens now, and calls offered on it become this engine's.
            live.inbound = self.engine.inbound
            self.started = asyncio.run_coroutine_threadsafe(live.start(), self.loop)
        self.ready.set()
        self.loop.run_forever()

    async def _watch(self) -> None:
        """Renew this engine's lease, and wake the sessions whose call has a control waiting."""
        renewed_at = None
        while True:
            try:
                now = self.loop.time()
                if renewed_at is None or now - renewed_at >= conf.VOICE_ENGINE_HEARTBEAT_SECONDS:
                    await self.engine.read(lease_renew, self.name)
                    renewed_at = now
                if self.engine.sessions:
                    for call_id in await self.engine.read(pending_controls, list(self.engine.sessions)):
                        self.engine.control(call_id)
            except Exception:
                log.warning("voice engine %s could not reach the database", self.name, exc_info=True)
            await asyncio.sleep(conf.VOICE_CONTROL_POLL_SECONDS)

    def submit(self, call_id: str) -> None:
        """Play a call this engine's process claimed (``claimed_by`` is ``self.name``)."""
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
