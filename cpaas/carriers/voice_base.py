"""The voice connector interface: what the call engine asks of a telephone network.

The engine (cpaas.voice.engine) drives every call through these coroutines; a connector does
I/O only (no ORM) and reports back through return values and awaitables. The sandbox network
(cpaas.carriers.sandbox_voice) implements it in memory; a SIP connector implements it over a
SIP stack: ``originate`` sends an INVITE, reports 180/183 through ``on_ringing`` and returns on
the final response (200 → answered, 486 → busy, 408/480/487 → no-answer, other → failed);
``wait_hangup`` resolves on the remote BYE; media verbs map to RTP playback, DTMF (RFC 4733)
collection and recording; ``bridge`` joins two dialogs' media (re-INVITE or a media server).

Time goes through a Clock, so a whole call can run faster than real time (tests, the bench).
"""

from __future__ import annotations

import asyncio
import heapq
import importlib
import itertools
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# --- outcomes and events -----------------------------------------------------------------------

ANSWERED = "in-progress"
BUSY = "busy"
NO_ANSWER = "no-answer"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class LegEvent:
    """Something the network reports about a leg: ``ringing`` or ``ended`` (remote hangup)."""

    leg_id: str
    kind: str
    at: datetime
    cause: str = ""
    sip_code: int | None = None


@dataclass(frozen=True, slots=True)
class OriginateOutcome:
    """How an originate attempt ended: answered (``in-progress``), ``busy``, ``no-answer``, ``failed``."""

    status: str
    at: datetime
    cause: str = ""
    sip_code: int | None = None

    @property
    def answered(self) -> bool:
        return self.status == ANSWERED


@dataclass(frozen=True, slots=True)
class RecordedAudio:
    wav: bytes
    duration_seconds: int
    channels: int = 1
    sample_rate: int = 8000


class VoiceConnectorError(Exception):
    """A network-side failure; ``permanent`` says whether trying again can help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


# --- clocks ---------------------------------------------------------------------------------------

class Clock(ABC):
    @abstractmethod
    def now(self) -> datetime: ...

    @abstractmethod
    async def sleep(self, seconds: float) -> None: ...

    async def sleep_until(self, when: datetime) -> None:
        await self.sleep(max(0.0, (when - self.now()).total_seconds()))

    def busy(self):
        """Mark work in progress that is not waiting on this clock (database, HTTP)."""
        return nullcontext()


class RealClock(Clock):
    """Wall-clock time, optionally ``speed`` times faster (virtual seconds per real second)."""

    def __init__(self, speed: float = 1.0) -> None:
        self.speed = speed
        self._wall = datetime.now(UTC)
        self._mono = time.monotonic()

    def now(self) -> datetime:
        return self._wall + timedelta(seconds=(time.monotonic() - self._mono) * self.speed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


class VirtualClock(Clock):
    """Time that only moves when every task waits on it: tests of minutes-long calls run at once.

    Work that waits on something else (a database thread, an HTTP request) holds ``busy()``;
    while anything is busy, or any task is still ready to run, time stands still. Then the
    clock jumps to the earliest sleeper's deadline and wakes it. Timestamps are exact.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        self._t = 0.0
        self._timers: list[tuple[float, int, asyncio.Future]] = []
        self._seq = itertools.count()
        self._busy = 0
        self._driver: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._t)

    @property
    def elapsed(self) -> float:
        return self._t

    @contextmanager
    def busy(self):
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1

    async def sleep(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        heapq.heappush(self._timers, (self._t + max(0.0, seconds), next(self._seq), future))
        if self._driver is None or self._driver.done():
            self._wake = asyncio.Event()
            self._driver = loop.create_task(self._drive())
        self._wake.set()
        await future

    async def _quiet(self) -> None:
        idle = 0
        while idle < 30:
            await asyncio.sleep(0)
            if self._busy:
                idle = 0
                await asyncio.sleep(0.0005)
            else:
                idle += 1

    async def _drive(self) -> None:
        while True:
            await self._quiet()
            while self._timers and self._timers[0][2].done():
                heapq.heappop(self._timers)
            if not self._timers:
                self._wake.clear()
                await self._wake.wait()
                continue
            deadline, _, future = heapq.heappop(self._timers)
            self._t = max(self._t, deadline)
            future.set_result(None)

    def close(self) -> None:
        if self._driver is not None:
            self._driver.cancel()


# --- the connector ------------------------------------------------------------------------------

RingingCallback = Callable[[LegEvent], Awaitable[None]]


class VoiceConnector(ABC):
    """One telephone network. Leg ids are the platform's (``leg_…``); calls are ``call_…``."""

    name: str = "abstract"

    def __init__(self, *, clock: Clock) -> None:
        self.clock = clock

    async def start(self) -> None:
        """Open connections (registrations, trunks). Called once before the first call."""
        return None

    async def close(self) -> None:
        """Release everything; live legs are hung up."""
        return None

    def release(self, leg_id: str) -> None:
        """Forget a finished leg's state (called once the engine is done with it)."""
        return None

    @abstractmethod
    async def originate(self, *, leg_id: str, to: str, from_: str, timeout: int,
                        on_ringing: RingingCallback) -> OriginateOutcome:
        """Place a leg; report ringing through ``on_ringing``; return when answered or failed.

        Give up after ``timeout`` seconds of ringing (``no-answer``). Cancelling the awaiting task
        cancels the attempt (SIP CANCEL).
        """

    @abstractmethod
    async def wait_hangup(self, leg_id: str) -> LegEvent:
        """Resolve when the far end of an answered leg hangs up."""

    @abstractmethod
    async def hangup(self, leg_id: str, *, cause: str = "normal_clearing") -> datetime:
        """Hang up a leg from the platform side; returns when it ended."""

    @abstractmethod
    async def say(self, leg_id: str, text: str, *, voice: str = "", language: str = "") -> None:
        """Speak ``text`` (text to speech) to the leg; return when done."""

    @abstractmethod
    async def play(self, leg_id: str, url: str) -> None:
        """Play the audio at ``url`` to the leg; return when done."""

    @abstractmethod
    async def collect_digits(self, leg_id: str, *, max_digits: int, timeout: int,
                             finish_key: str) -> str:
        """Collect DTMF until ``max_digits``, ``finish_key`` (not included) or ``timeout`` of silence."""

    @abstractmethod
    async def record(self, leg_id: str, *, max_length: int, timeout: int,
                     finish_key: str) -> RecordedAudio:
        """Record what the leg says until silence, ``finish_key`` or ``max_length``."""

    @abstractmethod
    async def bridge(self, leg_a: str, leg_b: str) -> None:
        """Join the media of two answered legs."""

    @abstractmethod
    async def start_recording(self, key: str, leg_ids: list[str]) -> None:
        """Start recording the audio of ``leg_ids`` (a call or a bridge) under ``key``."""

    @abstractmethod
    async def stop_recording(self, key: str) -> RecordedAudio | None:
        """Stop the recording started under ``key`` and return it (None if none was running)."""


# Connector name -> "module.Class". Test keys always use "sandbox".
VOICE_CONNECTORS = {
    "sandbox": "cpaas.carriers.sandbox_voice.network.SandboxVoiceNetwork",
}


def voice_connector_class(name: str) -> type[VoiceConnector]:
    module, _, cls = VOICE_CONNECTORS[name].rpartition(".")
    return getattr(importlib.import_module(module), cls)
