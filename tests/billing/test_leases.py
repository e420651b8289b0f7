"""Slices of a prepaid balance leased per process (decision 1000): steady sends make a Redis call
per slice, not per send; several processes spending one balance never overdraw it and refuse
exactly when it is spent; a dead process's slice comes back; top-ups and real prices settle."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import pytest
from django.conf import settings

from billing import Hold, leases, reserve_scripts, spend_reserve, spend_settle
from billing.balances import balance_top_up, gates_clear
from billing.leases import _table
from cpaas.core.redis_client import redis_client
from cpaas.tenants.models import App
from tests.support.money import available, capped, held, prepaid, price
from tests.support.worker import worker_env

CENT = [{"meter": "sms_segments", "model": "per_unit", "unit_price": "0.01"}]  # 10,000 micro-units a send
SEND = 10_000

pytestmark = pytest.mark.usefixtures("money_state")


def reserve(app, hold_id, segments=1):
    return spend_reserve(tenant_id=app.tenant_id, app_id=app.pk, mode="live",
                         holds=[Hold(str(hold_id), "sms_segments", segments, {"country": "US"})])[0]


def spend_until_refused(app, tag="s"):
    accepted = 0
    while reserve(app, f"{tag}-{accepted}") is None:
        accepted += 1
    return accepted


@contextmanager
def redis_commands(*names):
    """Commands clients sent Redis naming any of ``names`` (not those a script ran), as Redis's
    MONITOR saw them: real round trips of every process, nothing in our code replaced."""
    seen: list[str] = []
    stop = f"monitor-stop-{names[0]}"
    ready = threading.Event()

    def watch():
        with redis_client().monitor() as monitor:
            ready.set()
            for command in monitor.listen():
                text = command["command"]
                if stop in text:
                    return
                if command["client_type"] != "lua" and any(name in text for name in names):
                    seen.append(text.split(" ", 1)[0])

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    ready.wait(5)
    try:
        yield seen
    finally:
        redis_client().echo(stop)
        thread.join(5)


def test_steady_sends_make_a_redis_call_per_slice_not_per_send(tenant, app):
    price(tenant, CENT)
    prepaid(tenant, "1000.00")
    with redis_commands(tenant.pk, app.pk) as commands:
        answers = [reserve(app, n) for n in range(600)]
        leases.return_all()
    assert answers == [None] * 600
    # The first sends go one by one (no spending rate yet), then slices of 8+ sends each.
    assert 2 <= commands.count("EVALSHA") <= 60, commands
    assert set(commands) <= {"EVALSHA", "EVAL", "SCRIPT", "MGET"}  # MGET: the returner reads recalls (1030)
    # Every send is a hold of its own once the slices are back, and the rest was given back.
    assert (held(app), available(tenant)) == (600 * SEND, 1000 * 1_000_000 - 600 * SEND)


def test_a_slice_is_never_taken_when_the_balance_is_a_few_sends(tenant, app):
    price(tenant, CENT)
    prepaid(tenant, "0.30")  # 30 sends: less than LEASE_FRACTION x LEASE_MIN_SENDS
    assert spend_until_refused(app) == 30
    assert not _table[app.pk].lease_id
    assert available(tenant) == 0


def test_the_last_affordable_send_passes_and_the_next_is_refused(tenant, app):
    price(tenant, CENT)
    prepaid(tenant, "25.00")
    assert spend_until_refused(app) == 2500
    assert reserve(app, "again").code == "insufficient_funds"
    leases.return_all()
    assert (available(tenant), held(app)) == (0, 2500 * SEND)


def test_a_spend_cap_holds_with_slices(tenant, app):
    price(tenant, CENT)
    capped(app, 2000)  # 20.00: 2,000 sends of a postpaid app
    assert spend_until_refused(app) == 2000
    assert reserve(app, "again").code == "spend_cap_exceeded"


def test_a_top_up_during_a_slice_is_visible_and_counted_once(tenant, app):
    price(tenant, CENT)
    prepaid(tenant, "20.00")
    for n in range(300):
        assert reserve(app, f"a-{n}") is None
    assert _table[app.pk].lease_id  # a slice is out now
    balance_top_up(tenant_id=tenant.pk, amount="5.00", reference="during-lease")
    gates_clear()
    assert spend_until_refused(app, "b") == 2500 - 300


def test_settles_at_another_price_before_and_after_the_slice_comes_back(tenant, app):
    price(tenant, CENT)
    prepaid(tenant, "100.00")
    ids = [f"m{n}" for n in range(200)]
    for hold_id in ids:
        assert reserve(app, hold_id) is None
    assert _table[app.pk].pending  # the last sends are reserved from a slice, not registered yet
    local = [hold_id for hold_id in _table[app.pk].pending[1::2]]
    early, late = local[:2], [i for i in ids if i not in local][:2]
    # Settled before the slice is back: tombstones; the other two are registered holds already.
    spend_settle([(tenant.pk, app.pk, early[0], 3 * SEND), (tenant.pk, app.pk, early[1], 0)])
    leases.return_all()
    spend_settle([(tenant.pk, app.pk, late[0], 3 * SEND), (tenant.pk, app.pk, late[1], 0)])
    # 196 sends still held at their estimate, two charged 0.03, two released.
    assert held(app) == 196 * SEND
    assert available(tenant) == 100 * 1_000_000 - 196 * SEND - 2 * 3 * SEND
    assert not redis_client().hlen(f"billing:settled:{app.pk}")


def spender(tenant, app, tag, behaviour):
    return subprocess.Popen([sys.executable, "-m", "tests.support.spender", tenant.pk, app.pk, tag, behaviour],
                            env=worker_env(), cwd=settings.BASE_DIR, stdout=subprocess.PIPE, text=True)


def go(tag, count):
    """Start ``count`` spenders at once, when all of them are ready."""
    client = redis_client()
    deadline = time.monotonic() + 60
    while int(client.get(f"billing-test:ready:{tag}") or 0) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    client.set(f"billing-test:go:{tag}", "1", ex=60)


def test_two_processes_spending_one_balance_never_overdraw_it(tenant, app, transactional_db):
    price(tenant, CENT)
    prepaid(tenant, "200.00")  # 20,000 sends
    with redis_commands(tenant.pk, app.pk) as commands:
        processes = [spender(tenant, app, "pair", "until-refused") for _ in range(2)]
        go("pair", 2)
        answers = [json.loads(process.communicate(timeout=120)[0]) for process in processes]
    assert [answer["code"] for answer in answers] == ["insufficient_funds"] * 2, answers
    assert sum(answer["accepted"] for answer in answers) == 20_000, answers
    assert min(answer["accepted"] for answer in answers) > 0, answers
    assert commands.count("EVALSHA") < 20_000 / 50, (answers, commands.count("EVALSHA"))  # about 120 here
    assert (available(tenant), held(app)) == (0, 20_000 * SEND)
    assert reserve(app, "parent").code == "insufficient_funds"


def test_a_killed_process_s_slice_is_reclaimed_by_the_sweeper(tenant, app, transactional_db):
    price(tenant, CENT)
    prepaid(tenant, "100.00")
    process = spender(tenant, app, "kill", "lease-and-hang")
    go("kill", 1)
    told = json.loads(process.stdout.readline())
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert told["leased"] > 0
    out = 100 * 1_000_000 - told["accepted"] * SEND
    assert available(tenant) < out  # the dead process's slice is still held
    assert leases.leases_sweep() == 0  # not before its deadline
    assert leases.leases_sweep(later=leases.LEASE_SECONDS + leases.LEASE_GRACE + 1) == 1
    assert leases.leases_sweep(later=leases.LEASE_SECONDS + leases.LEASE_GRACE + 1) == 0  # twice is harmless
    assert reserve(app, "after") is None
    # Recomputed from the ledger (no usage yet) less what is held: the dead process's sends
    # before its slice (each a hold) and this one; all of the slice came back.
    assert held(app) == (told["accepted"] + 1) * SEND
    assert available(tenant) == 100 * 1_000_000 - held(app)


def test_test_mode_never_takes_a_slice(tenant, app):
    price(tenant, CENT)
    prepaid(tenant, "0")
    for n in range(200):
        assert spend_reserve(tenant_id=tenant.pk, app_id=app.pk, mode="test",
                             holds=[Hold(str(n), "sms_segments", 1, {})]) == [None]
    assert app.pk not in _table


def test_a_dead_process_s_slice_is_not_waited_for_and_comes_back_to_spend(tenant, app, transactional_db):
    price(tenant, CENT)
    prepaid(tenant, "100.00")
    process = spender(tenant, app, "dead", "lease-and-hang")
    go("dead", 1)
    told = json.loads(process.stdout.readline())
    process.send_signal(signal.SIGKILL)
    process.wait()
    time.sleep(reserve_scripts.FRESH_MS / 1000 + 0.1)  # no live process holds a slice this long
    # Everything but the dead process's sends and its slice can be spent; the refusal that ends
    # it does not wait for a slice nobody will return.
    slice_sends = told["leased"] // SEND
    assert spend_until_refused(app, "a") == 10_000 - told["accepted"] - slice_sends
    started = time.monotonic()
    assert reserve(app, "refused").code == "insufficient_funds"
    assert time.monotonic() - started < 0.5
    # Reclaimed by the sweeper, the slice is spendable again, exactly.
    assert leases.leases_sweep(later=leases.LEASE_SECONDS + leases.LEASE_GRACE + 1) == 1
    assert spend_until_refused(app, "b") == slice_sends


def lease_out(app):
    """Spend steadily until this process holds a slice of the app's money."""
    for n in range(300):
        assert reserve(app, f"steady-{n}") is None
        if _table[app.pk].lease_id:
            return
    raise AssertionError("no slice taken")


def test_another_app_s_settles_leave_no_tombstones_while_one_app_leases(tenant, app):
    """Decision 1030: only the app that holds a slice gets tombstones; an uncapped app of the
    same tenant settling every send must not grow ``billing:settled:{app}`` forever."""
    price(tenant, CENT)
    capped(app, 100_000)
    open_app = App.objects.create(tenant=tenant, name="uncapped")
    lease_out(app)
    spend_settle([(tenant.pk, open_app.pk, f"o{n}", None) for n in range(50)])
    assert not redis_client().exists(f"billing:settled:{open_app.pk}")
    leases.return_all()
    assert not redis_client().exists(f"billing:leases:n:{app.pk}")  # the count goes with the slice


def test_a_zero_cost_send_s_settle_leaves_no_tombstone(tenant, app):
    """A send that costs nothing, reserved by the script while a slice is out elsewhere, is a
    (zero) hold like any other, so its settle finds it instead of writing a tombstone nobody reads."""
    price(tenant, CENT)
    prepaid(tenant, "100.00")
    assert reserve(app, "free", segments=0) is None
    lease_out(app)
    spend_settle([(tenant.pk, app.pk, "free", None)])
    assert not redis_client().hexists(f"billing:settled:{app.pk}", "free")
    assert not redis_client().hexists(f"billing:holds:{app.pk}", "free")
    leases.return_all()


def lease_with_pending(app, count=3):
    """A slice with ``count`` sends reserved from it, not yet gone back."""
    lease_out(app)
    ids = [f"local-{n}" for n in range(count)]
    for hold_id in ids:
        assert reserve(app, hold_id) is None
    assert _table[app.pk].pending[1::2] == ids
    return ids


def test_a_return_after_the_sweeper_reclaimed_the_slice_changes_nothing(tenant, app):
    """Decision 1030: a slice whose return was late (its process stalled, Redis was away) and
    that the sweeper reclaimed meanwhile must not register holds for its sends: the ones settled
    since (charged as unheld ids) would stay held for 30 days."""
    price(tenant, CENT)
    prepaid(tenant, "100.00")
    ids = lease_with_pending(app)
    with _table.lock:
        late = _table[app.pk].detach()
    assert leases.leases_sweep(later=leases.LEASE_SECONDS + leases.LEASE_GRACE + 1) == 1
    after_sweep = held(app)
    spend_settle([(tenant.pk, app.pk, ids[0], None)])  # sent meanwhile: no hold, no slice out
    assert not redis_client().exists(f"billing:settled:{app.pk}")
    leases.give_back(late)
    assert held(app) == after_sweep
    assert not any(redis_client().hexists(f"billing:holds:{app.pk}", i) for i in ids)


def test_a_failed_return_is_retried_by_the_returner(tenant, app):
    """A return that Redis refuses goes back on the returner's list instead of being dropped
    (dropped, its sends were never registered as holds)."""
    price(tenant, CENT)
    prepaid(tenant, "100.00")
    ids = lease_with_pending(app)
    client = redis_client()
    client.set(f"billing:settled:{app.pk}", "not a hash")  # the return script fails on it (WRONGTYPE)
    leases.return_all()
    assert leases._retry and leases._retry[0].pending[1::2] == ids
    client.delete(f"billing:settled:{app.pk}")
    deadline = time.monotonic() + 5
    while leases._retry and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.1)
    assert all(client.hget(f"billing:holds:{app.pk}", i) == str(SEND).encode() for i in ids)
    assert not client.exists(f"billing:leases:n:{app.pk}")


def test_the_table_bound_keeps_the_slices_out(tenant, app):
    """Past 100,000 apps the table forgets idle entries, never one holding a slice."""
    price(tenant, CENT)
    prepaid(tenant, "100.00")
    ids = lease_with_pending(app)
    with _table.lock:
        for n in range(100_001):
            _table[f"idle-{n}"] = leases.Lease(window_start=0.0)
    leases.take_local("another-app", ["x"], [1], 1)
    assert _table[app.pk].pending[1::2] == ids
    assert len(_table) < 10
    leases.return_all()
    assert all(redis_client().hexists(f"billing:holds:{app.pk}", i) for i in ids)


def test_a_refusal_recalls_a_live_process_s_slice_and_waits_briefly(tenant, app, transactional_db):
    """Decision 1030: near the end of a balance a refusal calls other processes' slices back
    instead of waiting for them to age out (up to 1.75 s on the calling thread, which stalled
    the lean path's 4-thread pool), and stays exact: every send the balance covers passes."""
    price(tenant, CENT)
    prepaid(tenant, "1.00")  # 100 sends
    process = spender(tenant, app, "recall", "lease-and-hang")
    try:
        go("recall", 1)
        told = json.loads(process.stdout.readline())
        assert told["leased"] > 0
        accepted, slowest = 0, 0.0
        while True:
            started = time.monotonic()
            answer = reserve(app, f"p-{accepted}")
            slowest = max(slowest, time.monotonic() - started)
            if answer is not None:
                break
            accepted += 1
        assert answer.code == "insufficient_funds"
        assert told["accepted"] + accepted == 100  # the live process's slice came back and was spent
        assert slowest < 0.6, slowest  # REFUSAL_WAIT (0.3 s) and a loaded machine's slack
    finally:
        process.kill()
        process.wait()
