"""Group commit: many calls' status writes share one transaction.

Hundreds of live calls each write a few rows per transition; one transaction per write caps the
engine at the database's commit rate (a few thousand/s on an idle machine, far less on a busy
one). Writers queue their function here; a runner takes everything queued (up to ``max_batch``)
and runs it in one transaction on its own thread; if an item fails, the batch is redone item by
item in savepoints, so one failure fails only its caller. A call awaits each write before its
next, so a call's writes stay in order.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import close_old_connections, connection, transaction

log = logging.getLogger(__name__)


class GroupCommitter:
    def __init__(self, *, runners: int = 2, max_batch: int = 200) -> None:
        self.max_batch = max_batch
        self.executor = ThreadPoolExecutor(runners, thread_name_prefix="voice-commit")
        self.queue: list[tuple[Callable, tuple, dict, asyncio.Future]] = []
        self.runners = runners
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self.batches = 0
        self.items = 0

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._tasks = [loop.create_task(self._run()) for _ in range(self.runners)]

    async def submit(self, fn: Callable, *args, **kwargs) -> Any:
        if self._wake is None:
            self._start()
        future = asyncio.get_running_loop().create_future()
        self.queue.append((fn, args, kwargs, future))
        self._wake.set()
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            batch, self.queue = self.queue[: self.max_batch], self.queue[self.max_batch:]
            if not self.queue:
                self._wake.clear()
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(self.executor, _run_batch, batch)
            except Exception as exc:  # the commit itself failed: every caller learns it
                results = [(False, exc)] * len(batch)
            self.batches += 1
            self.items += len(batch)
            for (_, _, _, future), (ok, value) in zip(batch, results, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def close(self) -> None:
        """Stop the runners and close each runner thread's database connection."""
        for task in self._tasks:
            task.cancel()
        barrier = threading.Barrier(self.runners)

        def close_connection() -> None:
            barrier.wait(5)  # one job per thread: every thread closes its own connection
            connection.close()

        jobs = [self.executor.submit(close_connection) for _ in range(self.runners)]
        for job in jobs:
            job.exception()
        self.executor.shutdown(wait=True)


def _run_batch(batch) -> list[tuple[bool, Any]]:
    """Everything in one transaction; if any item raises, roll back and redo them one by one
    (each in its own savepoint), so one bad item fails only its own caller."""
    close_old_connections()
    try:
        with transaction.atomic():
            results = [(True, fn(*args, **kwargs)) for fn, args, kwargs, _ in batch]
        return results
    except Exception:
        log.info("a grouped write failed; redoing the batch of %d one by one", len(batch), exc_info=True)
    out: list[tuple[bool, Any]] = []
    with transaction.atomic():
        for fn, args, kwargs, _ in batch:
            try:
                with transaction.atomic():
                    out.append((True, fn(*args, **kwargs)))
            except Exception as exc:
                out.append((False, exc))
    return out
