"""infra.Waker: the SMS room's wake-up threads (dispatch kicks, status callbacks)."""

from __future__ import annotations

import threading
import time

from cpaas.core.redis_client import redis_client
from cpaas.messaging.infra import Waker


def test_wakes_asked_while_it_runs_coalesce_into_one_more_run():
    runs: list[float] = []
    gate = threading.Event()

    def work() -> None:
        runs.append(time.monotonic())
        gate.wait(1)

    waker = Waker("test-waker", work)
    waker.wake(start=True)
    time.sleep(0.05)
    for _ in range(10):  # all while the first run is still going
        waker.wake()
    gate.set()
    time.sleep(0.2)
    assert len(runs) == 2


def test_a_failing_run_is_logged_and_the_thread_keeps_serving(caplog):
    calls: list[int] = []

    def work() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")

    waker = Waker("test-failing", work)
    waker.wake(start=True)
    time.sleep(0.7)  # the failure pauses 0.5 s
    waker.wake()
    time.sleep(0.1)
    assert len(calls) == 2 and waker.running()
    assert "test-failing failed" in caplog.text


def test_wake_without_start_does_not_start_a_thread():
    waker = Waker("test-idle", lambda: None)
    waker.wake()
    assert not waker.running()


def test_set_many_writes_every_key_with_its_ttl_in_one_command(db):
    from cpaas.messaging import infra

    client = redis_client()
    pairs = [(f"cpaas:sms:test:set-many:{i}", f"value|{i}") for i in range(150)]
    infra.set_many(pairs, 120)
    assert [v.decode() for v in client.mget([key for key, _ in pairs])] == [value for _, value in pairs]
    assert 110 < client.ttl(pairs[0][0]) <= 120 and 110 < client.ttl(pairs[-1][0]) <= 120
    infra.set_many([], 120)  # nothing to write: no command


def test_the_journals_round_trip_through_set_many(db):
    from cpaas.messaging import infra

    infra.journal_write({"msg_a": "submitting|smsc1", "msg_b": "submitted|smsc1|c-1"}, 60)
    assert infra.journal_read(["msg_a", "msg_b", "msg_c"]) == {"msg_a": "submitting|smsc1",
                                                               "msg_b": "submitted|smsc1|c-1"}
    infra.receipts_journal_write([("smsc1", "c-1", "delivered", ""), ("smsc1", "c-2", "undelivered", "001")], 60)
    assert infra.receipts_journal_read([("smsc1", "c-1"), ("smsc1", "c-2"), ("smsc1", "c-3")]) == {
        ("smsc1", "c-1"): ("delivered", ""), ("smsc1", "c-2"): ("undelivered", "001")}
