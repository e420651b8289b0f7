"""Token-bucket rate limits and deny flags (revoked keys), shared by every process through Redis.

Every authenticated request must learn both "is this key revoked?" and "may it spend a token?".
Asking Redis on every request costs a network round trip that, on this machine, is most of what
authentication costs (docs/benchmarks.md). So a process *leases* a few tokens at a time from the
shared bucket (one Lua call checks the deny flag, refills, and grants up to a tenth of the burst)
and spends them locally; leases live at most ``LEASE_SECONDS``. Revocations are pushed at once to
every process over Redis pub/sub, and every lease call checks the flag again, so a revoked key
fails on the next request (docs/decisions/0004-leased-rate-limit-tokens.md). The same call spends
the tenant's aggregate bucket too (0841), so the hot path stays one round trip per lease. Failed
authentications are counted per client address (0843) and asked about only before a database
lookup.
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

from cpaas.core.redis_client import redis_client

log = logging.getLogger(__name__)

REVOCATIONS_CHANNEL = "cpaas:revocations"
LEASE_SECONDS = 1.0
MAX_LEASE = 50

# KEYS: the key's bucket, its deny flag and, optionally, its tenant's aggregate bucket.
# ARGV: rate, burst, cost, want, tenant rate, tenant burst. Tokens are granted from both buckets
# or from neither, so a key never spends past its tenant's ceiling (decision 0841).
_GATE_LUA = """
if redis.call('EXISTS', KEYS[2]) == 1 then return {-1, '0', '0'} end
local cost = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function refill(key, rate, burst)
  local b = redis.call('HMGET', key, 't', 'ts')
  local tokens = tonumber(b[1])
  local ts = tonumber(b[2])
  if tokens == nil or ts == nil then return burst end
  return math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
end
local function store(key, tokens, rate, burst)
  redis.call('HSET', key, 't', tostring(tokens), 'ts', now)
  redis.call('PEXPIRE', key, math.ceil(burst * 1000 / rate) + 1000)
end
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tokens = refill(KEYS[1], rate, burst)
local available = tokens
local trate, tburst, ttokens
if #KEYS > 2 then
  trate = tonumber(ARGV[5])
  tburst = tonumber(ARGV[6])
  ttokens = refill(KEYS[3], trate, tburst)
  available = math.min(tokens, ttokens)
end
local granted = 0
if available >= cost then
  granted = math.max(cost, math.min(want, math.floor(available)))
  tokens = tokens - granted
  if ttokens then ttokens = ttokens - granted end
end
store(KEYS[1], tokens, rate, burst)
if ttokens then store(KEYS[3], ttokens, trate, tburst) end
return {granted, tostring(tokens), tostring(ttokens or -1)}
"""

# Failed authentications per client address: count in a fixed window (the first failure starts it).
_AUTH_FAIL_LUA = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('TTL', KEYS[1])}
"""


@dataclass(frozen=True, slots=True)
class TenantBucket:
    """A tenant's aggregate bucket over all its keys of one mode, spent with the key's own."""

    name: str
    rate: float
    burst: int


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


def _binding(allowed: bool, tokens: float, rate: float, burst: int, cost: int,
             tenant: TenantBucket | None, tenant_tokens: float) -> Admission:
    """The admission of whichever bucket binds: the one that refused, else the one with fewer
    tokens left (so the headers tell a client the limit it will actually meet)."""
    if tenant is not None:
        tenant_binds = tenant_tokens < tokens if allowed else tokens >= cost > tenant_tokens
        if tenant_binds:
            return _admission(allowed, tenant_tokens, tenant.rate, tenant.burst, cost)
    return _admission(allowed, tokens, rate, burst, cost)


@dataclass(frozen=True, slots=True)
class AuthThrottle:
    blocked: bool
    retry_after: int  # seconds until the client address may try again (0 when not blocked)


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
    tenant_left: float = 0.0  # the same for the tenant's bucket


class RedisGate:
    def __init__(self) -> None:
        self.client = redis_client()
        self.script = self.client.register_script(_GATE_LUA)
        self.auth_fail_script = self.client.register_script(_AUTH_FAIL_LUA)
        self._leases: LeaseTable = LeaseTable()  # bucket -> _Lease
        self._denied: dict[str, float] = {}
        self._blocked: dict[str, float] = {}  # client address -> monotonic time it may try again
        self._listener_pid: int | None = None

    @property
    def _lock(self) -> threading.Lock:
        return self._leases.lock  # replaced in a forked child

    def admit(self, bucket: str, deny_flag: str, rate: float, burst: int, cost: int = 1, *,
              tenant: TenantBucket | None = None) -> Admission:
        """Spend ``cost`` tokens of the key's bucket (and of its tenant's): one Lua call per lease."""
        self._ensure_listener()
        now = time.monotonic()
        with self._lock:
            until = self._denied.get(deny_flag)
            if until is not None and until > now:
                return Admission(True, False, burst, 0, 0, 0)
            lease = self._leases.get(bucket)
            if lease is not None and lease.expires > now and lease.tokens >= cost:
                lease.tokens -= cost
                return _binding(True, lease.shared_left + lease.tokens, rate, burst, cost,
                                tenant, lease.tenant_left + lease.tokens)
        want = max(cost, lease_size(burst if tenant is None else min(burst, tenant.burst)))
        keys, args = [bucket, deny_flag], [rate, burst, cost, want]
        if tenant is not None:
            keys.append(tenant.name)
            args += [tenant.rate, tenant.burst]
        granted, tokens, tenant_tokens = self.script(keys=keys, args=args)
        granted, tokens, tenant_tokens = int(granted), float(tokens), float(tenant_tokens)
        if granted == -1:
            self._deny_locally(deny_flag, 60)
            return Admission(True, False, burst, 0, 0, 0)
        if granted == 0:
            return _binding(False, tokens, rate, burst, cost, tenant, tenant_tokens)
        with self._lock:
            self._leases[bucket] = _Lease(deny_flag, granted - cost, tokens, now + LEASE_SECONDS, tenant_tokens)
            self._leases.bound(100_000)
        return _binding(True, tokens + granted - cost, rate, burst, cost, tenant, tenant_tokens + granted - cost)

    def auth_throttle(self, address: str, limit: int) -> AuthThrottle:
        """Is ``address`` blocked for failing authentication too often? Asked only before a
        database lookup (an uncached key), so valid cached keys never pay for it."""
        now = time.monotonic()
        until = self._blocked.get(address)
        if until is not None and until > now:
            return AuthThrottle(True, max(1, math.ceil(until - now)))
        pipe = self.client.pipeline(transaction=False)
        pipe.get(_auth_key(address))
        pipe.ttl(_auth_key(address))
        count, ttl = pipe.execute()
        if count is not None and int(count) >= limit and ttl > 0:
            self._blocked[address] = now + ttl
            return AuthThrottle(True, ttl)
        return AuthThrottle(False, 0)

    def auth_failed(self, address: str, limit: int, window: int) -> None:
        count, ttl = self.auth_fail_script(keys=[_auth_key(address)], args=[window])
        if int(count) >= limit:
            with self._lock:
                if len(self._blocked) > 100_000:
                    self._blocked.clear()
                self._blocked[address] = time.monotonic() + max(1, int(ttl))

    def auth_reset(self, address: str) -> None:
        self.client.delete(_auth_key(address))
        self._blocked.pop(address, None)

    def deny(self, deny_flag: str, ttl_seconds: int) -> None:
        self.client.set(deny_flag, "1", ex=ttl_seconds)
        self._deny_locally(deny_flag, ttl_seconds)
        self.client.publish(REVOCATIONS_CHANNEL, f"{deny_flag}|{ttl_seconds}")

    def undeny(self, deny_flag: str) -> None:
        """Lift a deny flag everywhere at once (a resumed tenant): a ttl of 0 in the message ends
        every process's local denial."""
        self.client.delete(deny_flag)
        self._deny_locally(deny_flag, 0)
        self.client.publish(REVOCATIONS_CHANNEL, f"{deny_flag}|0")

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
        while True:
            try:
                pubsub = redis_client(listening=True).pubsub(ignore_subscribe_messages=True)
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


def _auth_key(address: str) -> str:
    return f"cpaas:authfail:{address}"


@lru_cache(maxsize=1)
def gate() -> RedisGate:
    return RedisGate()
