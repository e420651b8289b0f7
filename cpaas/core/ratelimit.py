"""Token-bucket rate limits and deny flags (revoked keys), shared by every process through Redis.

Every authenticated request must learn both "is this key revoked?" and "may it spend a token?".
Asking Redis on every request costs a network round trip that, on this machine, is most of what
authentication costs (docs/benchmarks.md). So a process *leases* a few tokens at a time from the
shared bucket (one Lua call checks the deny flag, refills, and grants up to a tenth of the burst)
and spends them locally; leases live at most ``LEASE_SECONDS``. Revocations are pushed at once to
every process over Redis pub/sub, and every lease call checks the flag again, so a revoked key
fails on the next request (docs/decisions/0004-leased-rate-limit-tokens.md). Without
``REDIS_URL`` (the embedded default, a single web process) an in-process limiter gives the same
answers.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import weakref
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings

log = logging.getLogger(__name__)

REVOCATIONS_CHANNEL = "cpaas:revocations"
LEASE_SECONDS = 1.0
MAX_LEASE = 50

_GATE_LUA = """
if redis.call('EXISTS', KEYS[2]) == 1 then return {-1, '0', '0'} end
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then tokens = burst; ts = now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local granted = 0
if tokens >= cost then
  granted = math.max(cost, math.min(want, math.floor(tokens)))
  tokens = tokens - granted
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {granted, tostring(tokens), tostring(now)}
"""


def lease_size(burst: int) -> int:
    """Tokens taken per Redis call: a tenth of the burst, so leases barely bend the limit."""
    return max(1, min(MAX_LEASE, burst // 10))


@dataclass(frozen=True, slots=True)
class Admission:
    denied: bool  # the deny flag is set (e.g. the API key was revoked)
    allowed: bool
    limit: int
    remaining: int
    reset: int  # seconds until the bucket is full again
    retry_after: int  # seconds until one more request may pass (0 when allowed)

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


def _admission(allowed: bool, tokens: float, rate: float, burst: int, cost: int) -> Admission:
    remaining = max(0, math.floor(tokens))
    reset = max(0, math.ceil((burst - tokens) / rate))
    retry_after = 0 if allowed else max(1, math.ceil((cost - tokens) / rate))
    return Admission(False, allowed, burst, remaining, reset, retry_after)


class LeaseTable(dict):
    """What a process holds of a shared Redis count (rate-limit tokens, SMS counters) and spends
    locally: key -> lease, guarded by ``lock``.

    A forked child (a pre-fork server, a prefork Celery pool) starts with an empty table and a
    fresh lock: spending leases inherited from the parent would hand out the same units twice, and
    a lock held by another thread at fork time would never be released in the child.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: LeaseTable._forked(ref))

    @staticmethod
    def _forked(ref: weakref.ref) -> None:
        table = ref()
        if table is not None:
            table.lock = threading.Lock()
            dict.clear(table)

    def bound(self, max_entries: int) -> None:
        """Forget every lease when the table grows past ``max_entries`` (call under ``lock``)."""
        if len(self) > max_entries:
            self.clear()


@dataclass
class _Lease:
    deny_flag: str
    tokens: int
    shared_left: float  # tokens left in the shared bucket when this lease was taken
    expires: float


class RedisGate:
    def __init__(self, url: str) -> None:
        import redis

        self.url = url
        self.client = redis.Redis.from_url(url, socket_timeout=2, health_check_interval=30)
        self.script = self.client.register_script(_GATE_LUA)
        self._leases: LeaseTable = LeaseTable()  # bucket -> _Lease
        self._denied: dict[str, float] = {}
        self._listener_pid: int | None = None

    @property
    def _lock(self) -> threading.Lock:
        return self._leases.lock  # replaced in a forked child

    def admit(self, bucket: str, deny_flag: str, rate: float, burst: int, cost: int = 1) -> Admission:
        self._ensure_listener()
        now = time.monotonic()
        with self._lock:
            until = self._denied.get(deny_flag)
            if until is not None and until > now:
                return Admission(True, False, burst, 0, 0, 0)
            lease = self._leases.get(bucket)
            if lease is not None and lease.expires > now and lease.tokens >= cost:
                lease.tokens -= cost
                return _admission(True, lease.shared_left + lease.tokens, rate, burst, cost)
        want = max(cost, lease_size(burst))
        granted, tokens, _now = self.script(keys=[bucket, deny_flag], args=[rate, burst, cost, want])
        granted, tokens = int(granted), float(tokens)
        if granted == -1:
            self._deny_locally(deny_flag, 60)
            return Admission(True, False, burst, 0, 0, 0)
        if granted == 0:
            return _admission(False, tokens, rate, burst, cost)
        with self._lock:
            self._leases[bucket] = _Lease(deny_flag, granted - cost, tokens, now + LEASE_SECONDS)
            self._leases.bound(100_000)
        return _admission(True, tokens + granted - cost, rate, burst, cost)

    def deny(self, deny_flag: str, ttl_seconds: int) -> None:
        self.client.set(deny_flag, "1", ex=ttl_seconds)
        self._deny_locally(deny_flag, ttl_seconds)
        self.client.publish(REVOCATIONS_CHANNEL, f"{deny_flag}|{ttl_seconds}")

    def reset(self, bucket: str) -> None:
        self.client.delete(bucket)
        with self._lock:
            self._leases.pop(bucket, None)

    def _deny_locally(self, deny_flag: str, ttl_seconds: float) -> None:
        with self._lock:
            self._denied[deny_flag] = time.monotonic() + ttl_seconds
            for bucket, lease in list(self._leases.items()):
                if lease.deny_flag == deny_flag:
                    del self._leases[bucket]

    def _ensure_listener(self) -> None:
        """One subscriber thread per process, started lazily so it survives pre-fork servers."""
        pid = os.getpid()
        if self._listener_pid == pid:
            return
        with self._lock:
            if self._listener_pid == pid:
                return
            self._listener_pid = pid
            self._leases.clear()  # inherited from a parent process: never spend them twice
            ready = threading.Event()
            threading.Thread(target=self._listen, args=(ready,), daemon=True,
                             name="cpaas-revocations").start()
        ready.wait(2)

    def _listen(self, ready: threading.Event) -> None:
        import redis

        while True:
            try:
                pubsub = redis.Redis.from_url(self.url).pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(REVOCATIONS_CHANNEL)
                with self._lock:
                    self._leases.clear()  # revocations may have been missed while disconnected
                ready.set()
                for message in pubsub.listen():
                    flag, _, ttl = message["data"].decode().rpartition("|")
                    self._deny_locally(flag, float(ttl or 60))
            except Exception:  # the connection dropped: reconnect; leases expire meanwhile
                log.warning("revocation listener disconnected; reconnecting", exc_info=True)
                ready.set()
                time.sleep(1)


class LocalGate:
    """The same semantics in process memory, for a single-process embedded deployment."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}
        self._denied: dict[str, float] = {}

    def admit(self, bucket: str, deny_flag: str, rate: float, burst: int, cost: int = 1) -> Admission:
        now = time.monotonic()
        with self._lock:
            until = self._denied.get(deny_flag)
            if until is not None and until > now:
                return Admission(True, False, burst, 0, 0, 0)
            tokens, stamp = self._buckets.get(bucket, (float(burst), now))
            tokens = min(burst, tokens + (now - stamp) * rate)
            allowed = tokens >= cost
            if allowed:
                tokens -= cost
            self._buckets[bucket] = (tokens, now)
            if len(self._buckets) > 100_000:
                self._buckets.clear()
        return _admission(allowed, tokens, rate, burst, cost)

    def deny(self, deny_flag: str, ttl_seconds: int) -> None:
        with self._lock:
            self._denied[deny_flag] = time.monotonic() + ttl_seconds

    def reset(self, bucket: str) -> None:
        with self._lock:
            self._buckets.pop(bucket, None)


@lru_cache(maxsize=1)
def gate() -> RedisGate | LocalGate:
    return RedisGate(settings.REDIS_URL) if settings.REDIS_URL else LocalGate()
