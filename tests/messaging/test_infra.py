"""infra.Waker: the SMS room's wake-up threads (dispatch kicks, status callbacks)."""

from __future__ import annotations

import threading
import time

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
