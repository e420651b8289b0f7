"""Token-bucket rate limits, checked together with a deny flag in one Redis round trip.

Why together: every authenticated request must learn both "is this key revoked?" and "may it
spend a token?". Asking Redis once for both keeps auth at one network hop and no database query
(see docs/decisions/0003-auth-hot-path.md). Without ``REDIS_URL`` (the embedded default, a single
web process) an in-process limiter gives the same answers.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings

_GATE_LUA = """
if redis.call('EXISTS', KEYS[2]) == 1 then return {-1, '0', '0'} end
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then tokens = burst; ts = now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local allowed = 0
if tokens >= cost then tokens = tokens - cost; allowed = 1 end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, tostring(tokens), tostring(now)}
"""


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


class RedisGate:
    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2, health_check_interval=30)
        self.script = self.client.register_script(_GATE_LUA)

    def admit(self, bucket: str, deny_flag: str, rate: float, burst: int, cost: int = 1) -> Admission:
        code, tokens, _now = self.script(keys=[bucket, deny_flag], args=[rate, burst, cost])
        if int(code) == -1:
            return Admission(True, False, burst, 0, 0, 0)
        return _admission(int(code) == 1, float(tokens), rate, burst, cost)

    def deny(self, deny_flag: str, ttl_seconds: int) -> None:
        self.client.set(deny_flag, "1", ex=ttl_seconds)

    def reset(self, bucket: str) -> None:
        self.client.delete(bucket)


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
