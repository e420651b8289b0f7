"""Time for voice connectors and the call engine: real, accelerated, or virtual.

Every wait of a call goes through a Clock, so a whole call can run faster than real time (tests,
the bench) and its timestamps stay exact.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from abc import ABC, abstractmethod
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta


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
