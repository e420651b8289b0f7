"""Fixtures of the RTC tests: a real Janus started on free loopback ports with a configuration our
code writes, registered as the one row of the placement table, and aiortc clients on a loop thread."""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from cpaas.rtc import process
from cpaas.rtc.janus_config import JANUS_BINARY, JanusPorts
from cpaas.rtc.models import MediaServer
from cpaas.voice import conf as voice_conf
from cpaas.voice.storage import recordings_storage

needs_janus = pytest.mark.skipif(not shutil.which(JANUS_BINARY),
                                 reason="janus not installed (make test installs it: apt-get install janus)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningJanus:
    server: MediaServer
    ports: JanusPorts


@pytest.fixture
def janus(db, tmp_path, monkeypatch) -> Iterator[RunningJanus]:
    base = random.Random().randrange(20000, 30000, 200)
    ports = JanusPorts(http=free_port(), admin=free_port(), rtp_min=base, rtp_max=base + 199)
    admin_key = secrets.token_hex(8)
    with process.start(tmp_path / "janus", ports=ports, admin_secret=secrets.token_hex(8), admin_key=admin_key):
        record_dir = tmp_path / "recordings"
        record_dir.mkdir()
        monkeypatch.setattr(voice_conf, "VOICE_RECORDINGS_STORAGE_OPTIONS", {"location": str(tmp_path / "store")})
        recordings_storage.cache_clear()
        server = MediaServer.objects.create(name="janus-test", api_url=f"http://127.0.0.1:{ports.http}/janus",
                                            admin_key=admin_key, record_dir=str(record_dir))
        yield RunningJanus(server, ports)
    recordings_storage.cache_clear()


class LoopThread:
    """An asyncio loop on its own thread: aiortc's media keeps flowing while the test (sync) calls the API."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="aiortc-loop")
        self.thread.start()

    def run(self, coro, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        """Cancel what is left (peers a test did not close), then stop the loop."""

        async def cancel_rest() -> None:
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        with contextlib.suppress(Exception):
            self.run(cancel_rest(), timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    runner = LoopThread()
    try:
        yield runner
    finally:
        with contextlib.suppress(Exception):
            runner.stop()
