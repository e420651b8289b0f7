"""The one per-process cache of the platform: a few seconds of memory in front of a query.

Used wherever a hot path reads something that changes rarely (an API key's principal, an app's
endpoints, money settings, signing secrets, prices). Each entry lives ``ttl`` seconds; past
``max_entries`` the oldest entry goes first. A change made in this process is seen at once when
the writer calls ``forget``; a change made elsewhere within ``ttl``.

``ttl`` may be a function, read at each lookup, so a cache follows a conf value that tests
monkeypatch (``TtlCache(lambda: conf.ENDPOINT_CACHE_SECONDS)``), entries already stored included.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_MISSING = object()


class TtlCache(Generic[K, V]):
    """A size-bounded mapping whose entries expire; safe to share between threads."""

    def __init__(self, ttl: float | Callable[[], float], *, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()  # key -> (stored at, value)

    def get(self, key: K, default: V | None = None) -> V | None:
        """The live value stored under ``key``, else ``default``."""
        hit = self._entries.get(key)
        if hit is None:
            return default
        if self._clock() - hit[0] >= (self._ttl() if callable(self._ttl) else self._ttl):
            with self._lock:
                if self._entries.get(key) is hit:
                    del self._entries[key]
            return default
        return hit[1]

    def put(self, key: K, value: V) -> V:
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (self._clock(), value)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value

    def get_or_load(self, key: K, load: Callable[[], V]) -> V:
        """The cached value, else ``load()`` stored (a None result is cached too)."""
        value = self.get(key, _MISSING)  # type: ignore[arg-type]
        if value is _MISSING:
            return self.put(key, load())
        return value  # type: ignore[return-value]

    def forget(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def forget_where(self, predicate: Callable[[K, V], bool]) -> None:
        """Drop every entry whose (key, value) matches, e.g. all principals of one revoked key."""
        with self._lock:
            for key in [k for k, (_, v) in self._entries.items() if predicate(k, v)]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
