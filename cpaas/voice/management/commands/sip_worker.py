"""``manage.py sip_worker``: the SIP worker, the one process that takes calls from SIP trunks.

It runs a voice engine (cpaas/voice/runtime.py: one thread, one event loop) whose live connector
listens on ``SIP_WORKER_ADDRESS``: an INVITE to an app's live number becomes an inbound call that
this engine plays out. Outbound live calls keep running in the voice workers' engines, each on a
SIP socket of its own. ``make run`` starts this command when ``VOICE_LIVE_CONNECTOR=sip``.
"""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from cpaas.voice import conf
from cpaas.voice.runtime import EngineRuntime


class Command(BaseCommand):
    help = "Take inbound calls from SIP trunks (needs VOICE_LIVE_CONNECTOR=sip) until SIGTERM or Ctrl-C."

    def handle(self, *args, **options) -> None:
        if conf.VOICE_LIVE_CONNECTOR != "sip":
            raise CommandError("VOICE_LIVE_CONNECTOR is not sip: no SIP trunk is configured (docs/voice.md).")
        if not conf.SIP_WORKER_ADDRESS:
            raise CommandError("SIP_WORKER_ADDRESS is not set: the SIP worker has no address to listen on.")
        runtime = EngineRuntime(inbound=True).start()
        try:
            runtime.started.result(timeout=10)
        except OSError as exc:
            raise CommandError(f"cannot listen on SIP_WORKER_ADDRESS={conf.SIP_WORKER_ADDRESS}: {exc}") from exc
        self.stdout.write(f"SIP worker listening on {conf.SIP_WORKER_ADDRESS} (engine {runtime.name})")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        stop.wait()
        runtime.loop.call_soon_threadsafe(runtime.loop.stop)
        self.stdout.write("SIP worker stopped")
