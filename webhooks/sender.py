"""Sending signed requests concurrently over pooled keep-alive connections (one loop per process).

Each worker process owns one event loop (uvloop) in a background thread and one keep-alive
connection pool on it (the egress client, cpaas/core/egress: the only way to a tenant URL), so
connections are kept alive across batches and tasks.
The dispatcher (sync, Django ORM) submits jobs and collects results; nothing here touches the
database.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from cpaas.core.aio import new_event_loop
from cpaas.core.egress import client as http
from cpaas.core.egress import ssrf
from webhooks import conf


@dataclass(slots=True)
class Job:
    delivery_id: str
    endpoint_id: str
    app_id: str
    url: str
    body: bytes
    headers: dict[str, str]
    claim_token: str
    attempts: int  # attempts made before this one
    manual: bool
    event_id: str
    event_type: str
    was_failing: bool = False


@dataclass(slots=True)
class Result:
    job: Job | None = None  # None for a callback to a one-off URL (webhooks/callbacks.py)
    status_code: int | None = None
    latency_ms: int = 0
    body: str = ""
    error: str = ""
    timed_out: bool = False
    blocked: bool = False
    retry_after: str | None = None
    truncated: bool = False
    finished_at: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300 and not self.error


async def send_one(pool: http.Pool, job: Job) -> Result:
    """One attempt of a delivery."""
    return await attempt(pool, job.url, job.headers, job.body, Result(job))


async def attempt(pool: http.Pool, url: str, headers: dict[str, str], body: bytes, result: Result, *,
                  max_body: int = conf.MAX_RESPONSE_BYTES) -> Result:
    """One signed POST: read at most ``max_body`` of the answer, never follow a redirect; every
    failure becomes ``result.error`` (a receiver must never take the caller down)."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(conf.TOTAL_TIMEOUT):
            response = await pool.post(url, headers, body, max_body=max_body)
        result.status_code = response.status
        result.truncated = response.truncated
        result.body = bytes(response.body[: conf.STORED_RESPONSE_BYTES]).decode("utf-8", "replace")
        result.retry_after = response.headers.get("retry-after")
        if 300 <= response.status < 400:
            target = response.headers.get("location", "")
            result.error = f"redirect to {target[:300]} not followed"
    except TimeoutError:
        result.timed_out = True
        result.error = f"timed out after {time.perf_counter() - started:.1f} s"
    except ssrf.BlockedAddress as exc:
        result.blocked = True
        result.error = f"blocked: {exc}"[:500]
    except Exception as exc:  # http.HttpError and anything else a receiver can provoke
        result.error = f"{type(exc).__name__}: {exc}"[:500]
    result.latency_ms = int((time.perf_counter() - started) * 1000)
    result.finished_at = time.time()
    return result


class Sender:
    """The per-process sender: a loop thread, one keep-alive pool, in-flight bookkeeping."""

    def __init__(self) -> None:
        self.results: queue.SimpleQueue[Result] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._in_flight: Counter[str] = Counter()
        self._done = threading.Event()
        self._loop = new_event_loop()
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._latency: dict[str, float] = {}  # per endpoint, seconds, exponentially weighted
        self._pool = http.Pool()
        self._thread = threading.Thread(target=self._run, name="webhooks-sender", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._sweep)
        self._loop.run_forever()

    def _sweep(self) -> None:
        self._pool.sweep()
        self._loop.call_later(1.0, self._sweep)

    @property
    def in_flight(self) -> int:
        return sum(self._in_flight.values())

    def endpoint_load(self, endpoint_id: str) -> int:
        return self._in_flight.get(endpoint_id, 0)

    def capacity(self, endpoint_id: str) -> int:
        """How many claimed deliveries of an endpoint this process may hold (sending + waiting).

        PER_ENDPOINT_CONCURRENCY are sent at once; the waiting line behind them is as long as can
        be drained within a third of the claim lease at the endpoint's observed latency. A fast
        endpoint may fill the process (big batches, no claim-and-release churn), a slow one gets a
        short line (2 x the slots),
        so nothing waits here long enough to lose its lease, and a slow endpoint never takes more
        than its few slots from the healthy ones.
        """
        slots = conf.PER_ENDPOINT_CONCURRENCY
        latency = self._latency.get(endpoint_id)
        if latency is None:
            return 2 * slots
        rounds = conf.CLAIM_LEASE_SECONDS / (3 * max(latency, 0.001))
        return min(conf.MAX_IN_FLIGHT, int(slots * max(2.0, rounds)))

    def saturated(self) -> set[str]:
        """Endpoints whose sending slots and waiting line are full in this process."""
        with self._lock:
            loads = list(self._in_flight.items())
        return {endpoint for endpoint, count in loads if count >= self.capacity(endpoint)}

    def submit(self, job: Job) -> None:
        self.submit_many([job])

    def submit_many(self, jobs: list[Job]) -> None:
        """Hand a batch to the loop thread (one wake-up of the loop for the whole batch)."""
        if not jobs:
            return
        with self._lock:
            for job in jobs:
                self._in_flight[job.endpoint_id] += 1
        self._loop.call_soon_threadsafe(self._start, jobs)

    def _start(self, jobs: list[Job]) -> None:
        for job in jobs:
            self._loop.create_task(self._send(job))

    async def _send(self, job: Job) -> None:
        semaphore = self._semaphores.get(job.endpoint_id)
        if semaphore is None:
            semaphore = self._semaphores[job.endpoint_id] = asyncio.Semaphore(conf.PER_ENDPOINT_CONCURRENCY)
        try:
            async with semaphore:
                result = await send_one(self._pool, job)
            seconds = result.latency_ms / 1000
            previous = self._latency.get(job.endpoint_id)
            self._latency[job.endpoint_id] = seconds if previous is None else 0.8 * previous + 0.2 * seconds
        except BaseException as exc:  # pragma: no cover - cancelled at shutdown
            result = Result(job, error=f"{type(exc).__name__}")
        with self._lock:
            self._in_flight[job.endpoint_id] -= 1
            if self._in_flight[job.endpoint_id] <= 0:
                del self._in_flight[job.endpoint_id]
        self.results.put(result)
        self._done.set()

    def call(self, coro, timeout: float | None = None):
        """Run a coroutine on this sender's loop (its keep-alive pool included) and wait for it.

        For batch senders outside the dispatcher (webhooks/callbacks.py): no new loop or pool per
        batch. Never call from the loop thread itself.
        """
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    @property
    def pool(self) -> http.Pool:
        """The keep-alive pool; use it only from coroutines run on this sender's loop."""
        return self._pool

    def close(self) -> None:
        """Close pooled connections and stop the loop thread (tests and shutdown)."""
        async def close_all() -> None:
            self._pool.close()

        asyncio.run_coroutine_threadsafe(close_all(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def wait(self, timeout: float) -> None:
        """Block until a result arrives or ``timeout`` passes."""
        self._done.wait(timeout)
        self._done.clear()

    def drain(self) -> list[Result]:
        out = []
        while True:
            try:
                out.append(self.results.get_nowait())
            except queue.Empty:
                return out


_sender: Sender | None = None
_sender_pid: int | None = None


def get_sender() -> Sender:
    """This process's sender (created lazily, after any fork of a prefork worker)."""
    global _sender, _sender_pid
    if _sender is None or _sender_pid != os.getpid():
        _sender, _sender_pid = Sender(), os.getpid()
    return _sender
