"""Slices of a prepaid balance (and of a spend cap's room) leased per process (decision 1000).

A reservation through Redis costs one script call per send. So, as the rate limiter leases tokens
(0004) and the SMS counters lease counts (0406), a process that sends steadily takes a *slice* of
the app's money in the same script call that reserves a send, then reserves the next sends
against the slice in memory. A slice is sized for ``LEASE_TARGET_SECONDS`` of this process's
recent spending, never more than ``1 / LEASE_FRACTION`` of what is left, and never less than
``LEASE_MIN_SENDS`` sends: below that (a balance nearly spent, a trickle of sends) every send takes
the per-send script, exact as before. The slice is subtracted from the balance when it is taken
and held like a hold (``billing:leases:{tenant}``), so no process can spend money another holds:
leases cannot overdraw.

A slice lives at most ``LEASE_SECONDS`` in the process. It goes back with the sends reserved
from it (registered as holds, or settled at once when their settle came first: a tombstone) in
the next script call of a send, or from this module's returner thread once it is that old, or at
exit. A process that dies keeps its slice out until its deadline (``LEASE_SECONDS +
LEASE_GRACE``); then :func:`leases_sweep` (Celery beat) reclaims it and the balance is recomputed
from the ledger. A return that fails (Redis unreachable) is retried by the returner thread until
the slice's deadline; a return that arrives after the sweeper reclaimed the slice changes nothing
(decision 1030).

The returner thread is started in one place, :func:`_returner_start`, called when this process
is first granted a slice or a return fails (and again in a forked child). It is started there
and not from the process kinds' start hooks because every kind can take a slice (web and
lean-path workers, the IM gateway, voice, Celery workers of any queue, management commands),
and only the processes that do need the thread.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field, replace

from redis.exceptions import RedisError

from billing.reserve_scripts import HOLD_TTL, RECLAIM, RESERVE, keys_for, script
from cpaas.core.ratelimit import LeaseTable
from cpaas.core.redis_client import redis_client

log = logging.getLogger(__name__)

LEASE_SECONDS = 1.0  # how long a process spends from one slice before it goes back
LEASE_TARGET_SECONDS = 0.5  # a slice covers this long of the process's recent spending
LEASE_FRACTION = 8  # a slice takes at most this fraction (1/8) of what is left
LEASE_MIN_SENDS = 4  # a slice smaller than this many sends is not taken: per-send checks
LEASE_GRACE = 60  # seconds past its life before the sweeper reclaims a lease nobody returned
RETURN_EVERY = 0.1  # the returner thread's period (it reads recalls, one MGET, while it holds slices)
REFUSAL_WAIT = 3 * RETURN_EVERY  # a refusal recalls others' slices and waits this long for them
RECALL_MS = 2000  # a recall flag lives this long (a live process's slices are all younger)


def _token() -> str:
    return f"{os.getpid()}-{secrets.token_hex(4)}"


_process = {"token": _token(), "returner": 0, "atexit": 0}
_ids = itertools.count(1)


def _forked() -> None:
    _process["token"] = _token()
    _retry.clear()  # the parent's to return


os.register_at_fork(after_in_child=_forked)


@dataclass
class Lease:
    """What this process holds of an app's money: a slice (``lease_id`` non-empty) and the sends
    reserved from it, and the app's recent spending here (to size the next slice)."""

    window_start: float
    window_spent: int = 0
    rate: float = 0.0  # micro-units per second over the last full window
    renewing: bool = False  # a thread of this process is asking Redis for a slice now
    lease_id: str = ""
    free: int = 0
    taken: float = 0.0
    keys: list[str] = field(default_factory=list)
    head: list = field(default_factory=list)  # the script's first arguments (prepaid, cap, state ttl)
    prefix: str = ""  # the deadline member's prefix
    pending: list = field(default_factory=list)  # cost, id, cost, id, … reserved from the slice

    def count(self, amount: int, now: float) -> None:
        elapsed = now - self.window_start
        if elapsed >= 1.0:
            self.rate = self.window_spent / elapsed
            self.window_start, self.window_spent = now, 0
        self.window_spent += amount

    def wanted(self) -> int:
        """The next slice: ``LEASE_TARGET_SECONDS`` of spending at the last second's rate (the
        current second's so far when higher)."""
        return int(max(self.rate, self.window_spent) * LEASE_TARGET_SECONDS)

    def detach(self) -> Returned | None:
        if not self.lease_id:
            return None
        out = Returned(self.lease_id, self.keys, self.head, self.prefix, self.pending)
        self.lease_id, self.free, self.pending = "", 0, []
        return out


@dataclass(frozen=True)
class Returned:
    """A slice on its way back, with the sends reserved from it."""

    lease_id: str
    keys: list[str]
    head: list
    prefix: str
    pending: list
    give_up: float = 0.0  # when its return failed: retried until then (the sweeper's deadline)


class _Leases(LeaseTable):
    """App id -> :class:`Lease`. Bounded like the other lease tables, except that an entry
    holding a slice (or asking for one) is kept: dropping it would lose the slice's sends."""

    def bound(self, max_entries: int) -> None:
        if len(self) > max_entries:
            for app_id in [k for k, lease in self.items() if not lease.lease_id and not lease.renewing]:
                del self[app_id]


_table: _Leases = _Leases()  # emptied in a forked child
_retry: list[Returned] = []  # slices whose return failed, for the returner; under _table.lock


def take_local(app_id: str, ids: list[str], costs: list[int], total: int) -> bool:
    """Reserve from this process's slice when it covers all of ``costs``: True, no I/O."""
    now = time.monotonic()
    with _table.lock:
        lease = _table.get(app_id)
        if lease is None:
            _table.bound(100_000)
            lease = _table[app_id] = Lease(window_start=now)
        lease.count(total, now)
        if not lease.lease_id or lease.free < total or now - lease.taken >= LEASE_SECONDS:
            return False
        lease.free -= total
        for hold_id, cost in zip(ids, costs, strict=True):
            lease.pending += (cost, hold_id)
        return True


@dataclass(frozen=True)
class Renewal:
    """What one script call carries besides the sends: the slice going back, the one asked for."""

    returned: Returned | None
    new_id: str
    want: int
    smallest: int

    def args(self, keys: list[str]) -> list:
        """ARGV 7 to 14 and the pending pairs of the reserve script."""
        old = self.returned
        pending = old.pending if old is not None else []
        return [old.lease_id if old is not None else "", self.new_id, self.want, self.smallest, LEASE_FRACTION,
                int((LEASE_SECONDS + LEASE_GRACE) * 1000), deadline_prefix(keys), len(pending) // 2, *pending]


def deadline_prefix(keys: list[str]) -> str:
    """``tenant app period `` of a lease's deadline member, from its keys."""
    tenant = keys[0].rsplit(":", 1)[1]
    _, _, app, period = keys[1].split(":", 3)
    return f"{tenant} {app} {period} "


def renewal(app_id: str, keys: list[str], head: list, unit: int) -> Renewal:
    """Detach this process's slice of the app (it goes back in the coming call) and decide whether
    to ask for a new one: only one thread at a time asks, and only for a useful size."""
    with _table.lock:
        lease = _table.get(app_id)
        if lease is None:
            return Renewal(None, "", 0, 0)
        returned = lease.detach()
        smallest = LEASE_MIN_SENDS * max(1, unit)
        want = lease.wanted()
        ask = not lease.renewing and want >= smallest
        if ask:
            lease.renewing = True
    if returned is not None and returned.keys != keys:
        give_back(returned)  # taken in another period: its own keys, its own call
        returned = None
    new_id = f"{app_id}:{_process['token']}:{next(_ids)}" if ask else ""
    return Renewal(returned, new_id, want if ask else 0, smallest)


def renewed(app_id: str, renewal_: Renewal, granted: int, keys: list[str], head: list) -> None:
    """Record the slice Redis granted (0: none) after the call of :func:`renewal`."""
    if not renewal_.new_id:
        return
    with _table.lock:
        lease = _table.get(app_id)
        if lease is not None:
            lease.renewing = False
        if granted <= 0:
            return
        if lease is None or lease.lease_id:  # cannot happen while ``renewing`` guards: give it back
            stray = Returned(renewal_.new_id, keys, head, deadline_prefix(keys), [])
        else:
            stray = None
            lease.lease_id, lease.free, lease.taken = renewal_.new_id, granted, time.monotonic()
            lease.keys, lease.head, lease.prefix, lease.pending = keys, head, deadline_prefix(keys), []
    if stray is not None:
        give_back(stray)
    _returner_start()


def renewal_failed(app_id: str, renewal_: Renewal) -> None:
    """The call failed: the slice sent back may or may not have arrived, so the returner sends it
    again (a second return of one slice changes nothing), and the next call may ask again."""
    if renewal_.returned is not None:
        _retry_later(renewal_.returned)
    if renewal_.new_id:
        with _table.lock:
            lease = _table.get(app_id)
            if lease is not None:
                lease.renewing = False


def give_back(returned: Returned) -> None:
    """Return one slice and register the sends reserved from it: one script call."""
    args = [*returned.head, "", "", HOLD_TTL, returned.lease_id, "", 0, 0, LEASE_FRACTION, 0, returned.prefix,
            len(returned.pending) // 2, *returned.pending, 0]
    try:
        script(redis_client(), "reserve", RESERVE)(keys=returned.keys, args=args)
    except RedisError:
        log.warning("could not return lease %s; the returner tries again", returned.lease_id)
        _retry_later(returned)


def _retry_later(returned: Returned) -> None:
    """Queue a slice whose return failed for the returner thread, until the sweeper's deadline
    (after it the return changes nothing: the sweeper reclaimed the slice)."""
    if not returned.give_up:
        returned = replace(returned, give_up=time.monotonic() + LEASE_SECONDS + LEASE_GRACE)
    with _table.lock:
        if len(_retry) < 100_000:
            _retry.append(returned)
    _returner_start()


def _retries(now: float) -> list[Returned]:
    with _table.lock:
        due = [returned for returned in _retry if now < returned.give_up]
        _retry.clear()
    return due


def _expired(now: float, *, everything: bool = False, recalled: frozenset = frozenset()) -> list[Returned]:
    with _table.lock:
        return [returned for lease in list(_table.values())
                if lease.lease_id and (everything or now - lease.taken >= LEASE_SECONDS
                                       or lease.keys[0] in recalled)
                for returned in [lease.detach()] if returned is not None]


def recall_key(avail_key: str) -> str:
    """The flag a refusal sets to call the tenant's slices back (``billing:recall:{tenant}``)."""
    return "billing:recall:" + avail_key.rsplit(":", 1)[1]


def recall(avail_key: str) -> None:
    """Ask every process holding a slice of this tenant's money to give it back now (their
    returner threads read the flag within ``RETURN_EVERY``): a refusal near the end of a balance."""
    redis_client().set(recall_key(avail_key), "1", px=RECALL_MS)


def _recalled() -> frozenset:
    """The avail keys of this process's slices whose tenant a refusal recalled (no I/O without
    slices)."""
    with _table.lock:
        held_ = sorted({lease.keys[0] for lease in _table.values() if lease.lease_id})
    if not held_:
        return frozenset()
    flags = redis_client().mget([recall_key(key) for key in held_])
    return frozenset(key for key, flag in zip(held_, flags, strict=True) if flag)


def return_all() -> int:
    """Give back every slice this process holds (at exit; tests)."""
    now = time.monotonic()
    out = _retries(now) + _expired(now, everything=True)
    for returned in out:
        give_back(returned)
    return len(out)


def forget() -> None:
    """Drop this process's leases without returning them (tests, after wiping billing's keys)."""
    with _table.lock:
        _table.clear()
        _retry.clear()


def _returner() -> None:
    while _process["returner"] == os.getpid():
        time.sleep(RETURN_EVERY)
        try:
            now = time.monotonic()
            for returned in _retries(now) + _expired(now, recalled=_recalled()):
                give_back(returned)
        except Exception:
            log.exception("lease returner failed")


def _returner_start() -> None:
    """The returner thread and the exit hook, once per process (again in a forked child)."""
    pid = os.getpid()
    if _process["returner"] == pid:
        return
    with _table.lock:
        if _process["returner"] == pid:
            return
        _process["returner"] = pid
        threading.Thread(target=_returner, name="billing-lease-returner", daemon=True).start()
        if _process["atexit"] != pid:
            _process["atexit"] = pid
            atexit.register(_at_exit)


def _at_exit() -> None:
    with contextlib.suppress(Exception):
        return_all()


def leases_sweep(*, later: float = 0.0, limit: int = 1000) -> int:
    """Reclaim leases past their deadline (their process died). Safe to run twice and from any
    number of processes: each reclaim checks the deadline again inside its script. ``later``:
    sweep as if that many seconds had passed (tests)."""
    client = redis_client()
    seconds, micros = client.time()
    now_ms = seconds * 1000 + micros // 1000 + int(later * 1000)
    reclaimed = 0
    for member in client.zrangebyscore("billing:lease-deadlines", "-inf", now_ms, start=0, num=limit):
        text = member.decode() if isinstance(member, bytes) else member
        tenant, app, period, lease_id = text.split(" ", 3)
        amount = script(client, "reclaim", RECLAIM)(keys=keys_for(tenant, app, period),
                                                    args=[lease_id, text, now_ms])
        if amount:
            reclaimed += 1
            log.warning("reclaimed %s micro-units leased by a process that did not return them (%s)",
                        amount, lease_id)
    return reclaimed

