"""The synchronous face of the egress client, for callers outside an event loop.

The IM moderation hook runs in the request path and SMS status callbacks in a worker thread;
neither has a loop. They get the same client as everyone else (``client.Pool``: the SSRF guard,
the pinned connect, no redirects, the size caps) run on one background event loop per process,
with its keep-alive pool, so connections stay warm across calls. Never call these from that
loop's own thread.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from cpaas.core.aio import new_event_loop
from cpaas.core.egress import conf
from cpaas.core.egress.client import OriginSlots, Pool, Response


@dataclass(frozen=True, slots=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str]


class _Runner:
    """A background loop thread and the keep-alive pool that lives on it."""

    def __init__(self) -> None:
        self.loop = new_event_loop()
        self.pool = Pool()
        self.thread = threading.Thread(target=self._run, name="egress", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._sweep)
        self.loop.run_forever()

    def _sweep(self) -> None:
        self.pool.sweep()
        self.loop.call_later(1.0, self._sweep)

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()


_runner: _Runner | None = None
_runner_pid: int | None = None
_runner_lock = threading.Lock()


def _get_runner() -> _Runner:
    """This process's runner (made lazily, after any fork of a prefork worker)."""
    global _runner, _runner_pid
    with _runner_lock:
        if _runner is None or _runner_pid != os.getpid():
            _runner, _runner_pid = _Runner(), os.getpid()
        return _runner


async def _post(pool: Pool, request: Request, timeout: float, max_body: int) -> Response:
    async with asyncio.timeout(timeout):
        return await pool.post(request.url, request.headers, request.body, max_body=max_body)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float = conf.TIMEOUT,
         max_body: int = conf.MAX_BODY_BYTES) -> Response:
    """One POST through the guard. Raises ``ssrf.BlockedAddress`` (refused address),
    ``TimeoutError`` (past ``timeout`` seconds in all) or ``client.HttpError``. A 3xx is returned
    as it is: redirects are never followed."""
    runner = _get_runner()
    return runner.call(_post(runner.pool, Request(url, body, headers), timeout, max_body))


def post_many(requests: list[Request], *, timeout: float = conf.TIMEOUT, max_body: int = conf.MAX_BODY_BYTES,
              per_origin: int = 8) -> list[Response | Exception]:
    """POST each request concurrently (at most ``per_origin`` at once per origin); each result
    is the response or the exception that request raised (as :func:`post` would)."""
    runner = _get_runner()

    async def one(slots: OriginSlots, request: Request) -> Response | Exception:
        try:
            async with slots(request.url):
                return await _post(runner.pool, request, timeout, max_body)
        except Exception as exc:  # a receiver must never take the caller down
            return exc

    async def all_of() -> list[Response | Exception]:
        slots = OriginSlots(per_origin)
        return list(await asyncio.gather(*(one(slots, request) for request in requests)))

    return runner.call(all_of())
