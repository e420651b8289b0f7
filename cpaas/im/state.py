"""Shared fast state of the IM room: DAU sets, chatroom windows and backlogs, presence, cursors.

In Redis, shared by every gateway and API process. Every key carries the app id (tenant
isolation holds in Redis too), and the counted figures (online users, daily actives) also the
mode, so a test key's stats never count live users (decision 0892). Live keys keep their original
names (every user that existed before IM had a mode became live); test keys insert ``:test``
after the app id.
"""

from __future__ import annotations

import time
from functools import lru_cache

from cpaas.core.redis_client import redis_client
from cpaas.im import conf

P = "cpaas:im"

# KEYS: total counter, low counter, drops hash. ARGV: is_low (0/1), whitelisted (0/1), max,
# low_max, ttl_ms. Returns 1 admitted, 0 shed.
_ROOM_ADMIT = """
local total = tonumber(redis.call('GET', KEYS[1]) or '0')
local low = tonumber(redis.call('GET', KEYS[2]) or '0')
local is_low = ARGV[1] == '1'
if ARGV[2] ~= '1' then
  if total >= tonumber(ARGV[3]) or (is_low and low >= tonumber(ARGV[4])) then
    redis.call('HINCRBY', KEYS[3], is_low and 'low' or 'high', 1)
    return 0
  end
end
redis.call('INCR', KEYS[1]); redis.call('PEXPIRE', KEYS[1], ARGV[5])
if is_low then redis.call('INCR', KEYS[2]); redis.call('PEXPIRE', KEYS[2], ARGV[5]) end
return 1
"""


def _m(app_id: str, mode: str) -> str:
    """The app (and mode) part of a counted key: ``app`` for live, ``app:test`` for test."""
    if mode == "live":
        return app_id
    if mode == "test":
        return f"{app_id}:test"
    raise ValueError(f"unknown mode {mode!r}")


def _window() -> int:
    return int(time.time() * 1000) // conf.ROOM_WINDOW_MS


class RedisState:
    def __init__(self) -> None:
        self.r = redis_client(decode_responses=True)
        self._admit = self.r.register_script(_ROOM_ADMIT)

    # --- DAU: one set per app, mode and day in front of the ledger ---
    def dau_seen(self, app_id: str, mode: str, day: str, user_id: str) -> bool:
        return bool(self.r.sismember(f"{P}:dau:{_m(app_id, mode)}:{day}", user_id))

    def dau_add(self, app_id: str, mode: str, day: str, user_id: str) -> None:
        key = f"{P}:dau:{_m(app_id, mode)}:{day}"
        pipe = self.r.pipeline()
        pipe.sadd(key, user_id)
        pipe.expire(key, 3 * 86400)
        added, _ = pipe.execute()
        if added:
            # a small per-day counter outlives the set, for the console's DAU chart
            pipe = self.r.pipeline()
            pipe.incr(f"{P}:daun:{_m(app_id, mode)}:{day}")
            pipe.expire(f"{P}:daun:{_m(app_id, mode)}:{day}", 95 * 86400)
            pipe.execute()

    def dau_count(self, app_id: str, mode: str, day: str) -> int:
        return int(self.r.get(f"{P}:daun:{_m(app_id, mode)}:{day}") or 0)

    def dau_history(self, app_id: str, mode: str, days: list[str]) -> list[int]:
        keys = [f"{P}:daun:{_m(app_id, mode)}:{d}" for d in days]
        return [int(v or 0) for v in self.r.mget(keys)] if days else []

    # --- chatrooms ---
    def room_admit(self, app_id: str, room_id: str, *, low: bool, whitelisted: bool) -> bool:
        w = _window()
        base = f"{P}:room:{app_id}:{room_id}"
        return bool(self._admit(
            keys=[f"{base}:w:{w}", f"{base}:wl:{w}", f"{base}:drops"],
            args=[int(low), int(whitelisted), conf.ROOM_WINDOW_MAX,
                  conf.ROOM_WINDOW_MAX - conf.ROOM_WINDOW_RESERVED_HIGH, conf.ROOM_WINDOW_MS * 5],
        ))

    def room_drops(self, app_id: str, room_id: str) -> dict[str, int]:
        raw = self.r.hgetall(f"{P}:room:{app_id}:{room_id}:drops")
        return {"low": int(raw.get("low", 0)), "high": int(raw.get("high", 0))}

    def room_next_seq(self, app_id: str, room_id: str) -> int:
        return int(self.r.incr(f"{P}:room:{app_id}:{room_id}:seq"))

    def room_backlog_push(self, app_id: str, room_id: str, frame: str) -> None:
        key = f"{P}:room:{app_id}:{room_id}:backlog"
        pipe = self.r.pipeline()
        pipe.lpush(key, frame)
        pipe.ltrim(key, 0, conf.ROOM_BACKLOG - 1)
        pipe.execute()

    def room_backlog(self, app_id: str, room_id: str) -> list[str]:
        return list(reversed(self.r.lrange(f"{P}:room:{app_id}:{room_id}:backlog", 0, conf.ROOM_BACKLOG - 1)))

    def room_forget(self, app_id: str, room_id: str) -> None:
        base = f"{P}:room:{app_id}:{room_id}"
        self.r.delete(f"{base}:backlog", f"{base}:drops", f"{base}:seq")

    # --- presence: a sorted set of live connections per user (score = expiry) ---
    def presence_connect(self, app_id: str, user_id: str, conn_id: str, mode: str) -> bool:
        """Add a connection of a ``mode`` user; True when the user was offline before."""
        key = f"{P}:conn:{app_id}:{user_id}"
        now = time.time()
        pipe = self.r.pipeline()
        pipe.zremrangebyscore(key, 0, now)
        pipe.zcard(key)
        pipe.zadd(key, {conn_id: now + conf.PRESENCE_TTL_SECONDS})
        pipe.expire(key, conf.PRESENCE_TTL_SECONDS * 2)
        pipe.sadd(f"{P}:online:{_m(app_id, mode)}", user_id)
        _, before, *_ = pipe.execute()
        return int(before) == 0

    def presence_refresh(self, app_id: str, user_id: str, conn_id: str) -> None:
        key = f"{P}:conn:{app_id}:{user_id}"
        pipe = self.r.pipeline()
        pipe.zadd(key, {conn_id: time.time() + conf.PRESENCE_TTL_SECONDS})
        pipe.expire(key, conf.PRESENCE_TTL_SECONDS * 2)
        pipe.execute()

    def presence_disconnect(self, app_id: str, user_id: str, conn_id: str, mode: str) -> bool:
        """Remove a connection; True when it was the user's last one."""
        key = f"{P}:conn:{app_id}:{user_id}"
        pipe = self.r.pipeline()
        pipe.zrem(key, conn_id)
        pipe.zremrangebyscore(key, 0, time.time())
        pipe.zcard(key)
        _, _, after = pipe.execute()
        if int(after) == 0:
            self.r.srem(f"{P}:online:{_m(app_id, mode)}", user_id)
            return True
        return False

    def online_count(self, app_id: str, mode: str) -> int:
        return int(self.r.scard(f"{P}:online:{_m(app_id, mode)}"))

    def is_online(self, app_id: str, user_id: str) -> bool:
        return bool(self.r.zcount(f"{P}:conn:{app_id}:{user_id}", time.time(), "+inf"))

    # --- acked cursors per device (a client that lost its local state resumes from these) ---
    def cursors_save(self, app_id: str, user_id: str, device: str, cursors: dict[str, int]) -> None:
        if cursors:
            key = f"{P}:cur:{app_id}:{user_id}:{device}"
            pipe = self.r.pipeline()
            pipe.hset(key, mapping=cursors)
            pipe.expire(key, conf.SYNC_RETENTION_DAYS * 86400)
            pipe.execute()

    def cursors_load(self, app_id: str, user_id: str, device: str) -> dict[str, int]:
        return {k: int(v) for k, v in self.r.hgetall(f"{P}:cur:{app_id}:{user_id}:{device}").items()}


@lru_cache(maxsize=1)
def state() -> RedisState:
    return RedisState()
