"""Redis helpers of the SMS room: counters (daily cap, velocity), the submit journal, task kicks."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from datetime import datetime
from functools import lru_cache

from django.db import close_old_connections

from cpaas.core.ratelimit import LeaseTable
from cpaas.core.redis_client import redis_client


def incr_many(keys: list[tuple[str, int, int]]) -> list[int]:
    """INCRBY each (key, ttl, amount), setting the TTL on first use, in one round trip."""
    pipe = redis_client().pipeline(transaction=False)
    for key, ttl, amount in keys:
        pipe.incrby(key, amount)
        pipe.expire(key, ttl, nx=True)
    replies = pipe.execute()
    return [int(replies[index * 2]) for index in range(len(keys))]


class LeasedCounters:
    """Shared counters (daily cap, velocity) that cost a Redis round trip per lease, not per message.

    The core's rate-limit gate leases tokens the same way (docs/decisions/0004), and both keep
    their leases in the core's fork-safe ``LeaseTable``: a process takes
    ``lease`` units of a counter at once with one INCRBY and hands them out locally, so the shared
    count may run ahead of the real one by the unused part of each process's lease (at most a tenth
    of the limit, never more than 50), which errs on the side of refusing. A limit under 10 leases
    one unit at a time: exact. Decision 0406.
    """

    def __init__(self) -> None:
        # key -> [next count to hand out, last count leased]; emptied in a forked child
        self.leases = LeaseTable()

    @property
    def lock(self) -> threading.Lock:
        return self.leases.lock

    @staticmethod
    def lease_size(limit: int | None) -> int:
        return 50 if limit is None else max(1, min(50, limit // 10))

    def take(self, wanted: list[tuple[str, int, int, int]]) -> list[int]:
        """For each (key, ttl, amount, lease): the count before these ``amount`` units. One Redis
        round trip (pipelined) for every key whose local lease cannot cover its amount."""
        starts: list[int | None] = [None] * len(wanted)
        missing: list[int] = []
        with self.lock:
            for index, (key, _ttl, amount, _lease) in enumerate(wanted):
                held = self.leases.get(key)
                if held is not None and held[1] - held[0] + 1 >= amount:
                    starts[index] = held[0] - 1
                    held[0] += amount
                else:
                    missing.append(index)
        if missing:
            totals = incr_many([(wanted[i][0], wanted[i][1], wanted[i][2] + wanted[i][3] - 1) for i in missing])
            with self.lock:
                self.leases.bound(10_000)
                for index, total in zip(missing, totals, strict=True):
                    key, _ttl, amount, lease = wanted[index]
                    first = total - (amount + lease - 1) + 1
                    starts[index] = first - 1
                    self.leases[key] = [first + amount, total]
        return starts  # type: ignore[return-value]

    def give_back(self, key: str, amount: int = 1) -> None:
        """Units taken for a send refused afterwards return to the local lease (or to Redis)."""
        with self.lock:
            held = self.leases.get(key)
            if held is not None:
                held[0] -= amount
                return
        decr(key)

    def clear(self) -> None:
        with self.lock:
            self.leases.clear()


counters = LeasedCounters()


def decr(key: str) -> None:
    redis_client().decr(key)


def flag_set_once(key: str, ttl: int) -> bool:
    """SET NX: True when this call set the flag (and so should act)."""
    return bool(redis_client().set(key, "1", ex=ttl, nx=True))


def flag_hold(key: str, ttl: int) -> None:
    """SET with a TTL: the flag stays set for ``ttl`` seconds more, whoever set it."""
    redis_client().set(key, "1", ex=ttl)


def flag_clear(key: str) -> None:
    delete_many([key])


# --- the submit journal ---------------------------------------------------------------------
# msg id -> "submitting|<connector>" before the submit, "submitted|<connector>|<carrier id>" after
# the carrier's answer. Written before the database update, read by the sweeper after a crash.

def _journal_key(message_id: str) -> str:
    return f"cpaas:sms:journal:{message_id}"


_SET_MANY = "for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[i], 'EX', ARGV[#ARGV]) end return #KEYS"


@lru_cache(maxsize=1)
def _set_many_script():
    return redis_client().register_script(_SET_MANY)


def set_many(pairs: list[tuple[str, str]], ttl: int) -> None:
    """SET each key with the same TTL in one command (a server-side script).

    A pipeline of 100 SETs cost redis-py 950 µs of CPU to pack and parse, the script 125 µs:
    the submit and receipt journals write two or three keys per message on the SMS hot path.
    """
    if not pairs:
        return
    _set_many_script()(keys=[key for key, _ in pairs], args=[*(value for _, value in pairs), ttl])


def get_many(keys: list[str]) -> list[str | None]:
    """MGET, as text (None where a key is missing)."""
    if not keys:
        return []
    return [None if value is None else value.decode() for value in redis_client().mget(keys)]


def delete_many(keys: list[str]) -> None:
    if not keys:
        return
    redis_client().delete(*keys)


def journal_write(entries: dict[str, str], ttl: int) -> None:
    set_many([(_journal_key(message_id), value) for message_id, value in entries.items()], ttl)


def journal_read(message_ids: list[str]) -> dict[str, str]:
    values = get_many([_journal_key(message_id) for message_id in message_ids])
    return {message_id: value for message_id, value in zip(message_ids, values, strict=True) if value is not None}


# --- the receipt journal ----------------------------------------------------------------------
# A receipt for a message this process has submitted but not settled yet is held in memory and
# applied by that settle, in the same transaction as ``sent`` (decision 0410). While held it is
# also here, so a worker killed before its settle loses nothing: the sweeper that finishes the
# submit from the submit journal applies the receipts it finds here.

def _receipt_key(connector: str, carrier_message_id: str) -> str:
    return f"cpaas:sms:receipt:{connector}:{carrier_message_id}"


def receipts_journal_write(receipts: list[tuple[str, str, str, str]], ttl: int) -> None:
    """Store ``(connector, carrier id, status, error code)`` receipts, one round trip."""
    set_many([(_receipt_key(connector, carrier_id), f"{status}|{error}")
              for connector, carrier_id, status, error in receipts], ttl)


def receipts_journal_read(keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
    """(connector, carrier id) → (status, error code) for the receipts journaled under those keys."""
    values = get_many([_receipt_key(*key) for key in keys])
    out = {}
    for key, value in zip(keys, values, strict=True):
        if value is not None:
            status, _, error = value.partition("|")
            out[key] = (status, error)
    return out


def receipts_journal_delete(keys: list[tuple[str, str]]) -> None:
    delete_many([_receipt_key(*key) for key in keys])


# --- multipart inbound messages ------------------------------------------------------------------
# Parts of one concatenated MO may reach different worker processes (one bind each): they meet in
# a Redis hash; the call that stores the last part takes them all, in one atomic script.

_CONCAT_LUA = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
if redis.call('HLEN', KEYS[1]) < tonumber(ARGV[3]) then return nil end
local parts = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return parts
"""


def concat_collect(key: str, index: int, total: int, text: str, ttl: int) -> list[str] | None:
    """Store part ``index`` of ``total``; return every part's text in order once all are in."""
    full_key = f"cpaas:sms:concat:{key}"
    flat = redis_client().eval(_CONCAT_LUA, 1, full_key, index, text, total, ttl)
    if flat is None:
        return None
    parts = {int(flat[i]): flat[i + 1].decode() for i in range(0, len(flat), 2)}
    return [parts.get(i, "") for i in range(1, total + 1)]


# --- velocity guard blocks, for the console ----------------------------------------------------

def _fraud_key(tenant_id: str, app_id: str) -> str:
    return f"cpaas:sms:{tenant_id}:{app_id}:fraud"


def fraud_log(tenant_id: str, app_id: str, entry: dict) -> None:
    key = _fraud_key(tenant_id, app_id)
    pipe = redis_client().pipeline(transaction=False)
    pipe.lpush(key, json.dumps(entry))
    pipe.ltrim(key, 0, 199)
    pipe.expire(key, 30 * 86400)
    pipe.execute()


def fraud_recent(tenant_id: str, app_id: str, limit: int = 50) -> list[dict]:
    raw = redis_client().lrange(_fraud_key(tenant_id, app_id), 0, limit - 1)
    return [json.loads(item) for item in raw]


def json_value(value: object) -> str:
    """``json.dumps`` default for rows sent to PostgreSQL as one JSON parameter: datetimes in
    ISO 8601 (microseconds kept), Decimals as exact strings."""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class Waker:
    """A daemon thread of this process that runs ``work`` whenever it is woken; wakes asked while
    it runs coalesce into one more run, and ``pause`` seconds pass between runs. A forked child
    starts its own thread (threads do not survive a fork)."""

    def __init__(self, name: str, work, *, pause: float = 0.0) -> None:
        self.name, self.work, self.pause = name, work, pause
        self.wanted = threading.Event()
        self.thread: threading.Thread | None = None
        self.pid = 0
        self.lock = threading.Lock()

    def running(self) -> bool:
        return self.thread is not None and self.pid == os.getpid() and self.thread.is_alive()

    def start(self) -> None:
        with self.lock:
            if self.running():
                return
            self.pid = os.getpid()
            self.wanted = threading.Event()
            self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self.thread.start()

    def wake(self, *, start: bool = False) -> None:
        """Ask for one more run; ``start``: start the thread first when this process has none
        (a cheap check, no lock, on the path of every request)."""
        if start and (self.thread is None or self.pid != os.getpid()):
            self.start()
        self.wanted.set()

    def _run(self) -> None:
        wanted = self.wanted
        while True:
            wanted.wait()
            wanted.clear()
            try:
                self.work()
            except Exception:
                logging.getLogger(__name__).exception("%s failed", self.name)
                close_old_connections()
                time.sleep(0.5)
            if self.pause:
                time.sleep(self.pause)
