"""Callbacks to one-off URLs: recorded once, signed, retried on the schedule, never sent twice at once."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from cpaas.core.db import execute_prepared
from cpaas.core.egress import conf as egress_conf
from tests.support.receiver import start_receiver
from webhooks import NewCallback, callbacks, send_callback, send_callbacks
from webhooks.callback_models import Callback
from webhooks.callbacks import KICK_KEY, callbacks_deliver, register_signer

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ="


@pytest.fixture(autouse=True)
def _signer_and_loopback(monkeypatch):
    register_signer("test", lambda app_id: [SECRET])
    monkeypatch.setattr(egress_conf, "ALLOWED_CIDRS", ["127.0.0.0/8"])


@pytest.fixture
def receiver():
    receiver, server = start_receiver()
    yield receiver
    if receiver.hang is not None:
        receiver.hang.set()
    server.shutdown()


def record(app, url: str, key: str = "k1", channel: str = "test", **data) -> Callback:
    with transaction.atomic():
        send_callback(app, url, "thing.happened", data or {"n": 1}, idempotency_key=key, channel=channel)
    return Callback.objects.get(app=app, idempotency_key=key)


def make_due(row: Callback) -> None:
    Callback.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())


def test_a_callback_is_recorded_once_per_idempotency_key(app):
    first = record(app, "https://tenant.example/status", n=1)
    record(app, "https://tenant.example/status", n=2)
    assert Callback.objects.filter(app=app).count() == 1
    assert json.loads(Callback.objects.get().body) == {
        "id": first.id, "type": "thing.happened", "created": json.loads(first.body)["created"], "data": {"n": 1}}


def test_it_is_sent_signed_like_a_webhook_and_marked_delivered(app, receiver):
    row = record(app, f"{receiver.base}/status")
    assert callbacks_deliver() == {"delivered": 1, "retrying": 0, "failed": 0}
    [(headers, body)] = receiver.posted("/status")
    assert headers["webhook-id"] == row.id and body == row.body.encode()
    assert Webhook(SECRET).verify(body.decode(), headers)["data"] == {"n": 1}
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_status_code, row.next_attempt_at) == ("delivered", 1, 200, None)


def test_a_failing_receiver_gets_the_same_id_and_body_again_on_the_schedule(app, receiver):
    receiver.answer("/status", 503)
    row = record(app, f"{receiver.base}/status")
    before = timezone.now()
    assert callbacks_deliver()["retrying"] == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 503)
    assert before + timedelta(seconds=3) < row.next_attempt_at < before + timedelta(seconds=8)  # 5 s ±20 %
    assert callbacks_deliver()["delivered"] == 0  # not due yet

    receiver.answer("/status", 204)
    make_due(row)
    assert callbacks_deliver()["delivered"] == 1
    (h1, b1), (h2, b2) = receiver.posted("/status")
    assert (h1["webhook-id"], b1) == (h2["webhook-id"], b2)
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("delivered", 2)


def test_a_post_whose_connection_dropped_after_the_request_is_retried_with_the_same_id_and_body(app, receiver):
    # The receiver read the whole request, then closed the connection without answering (a
    # crash, a proxy timeout): it may have acted on it. The retry must be recognisable.
    receiver.drop = 1
    row = record(app, f"{receiver.base}/status")
    assert callbacks_deliver()["retrying"] == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, None)
    assert row.last_error
    make_due(row)
    assert callbacks_deliver()["delivered"] == 1
    (h1, b1), (h2, b2) = receiver.posted("/status")
    assert h1["webhook-id"] == h2["webhook-id"] == row.id
    assert b1 == b2 == row.body.encode()
    assert Webhook(SECRET).verify(b2.decode(), h2)["data"] == {"n": 1}


def test_a_batch_is_recorded_in_one_insert_with_one_kick(app, django_assert_num_queries,
                                                         django_capture_on_commit_callbacks, monkeypatch):
    statements = []

    def counted(cursor, sql, params):  # the real statement, counted
        statements.append(sql)
        return execute_prepared(cursor, sql, params)

    monkeypatch.setattr(callbacks, "execute_prepared", counted)
    items = [NewCallback(app.id, "https://tenant.example/status", "thing.happened", {"n": n}, f"k{n}", "test")
             for n in range(20)]
    with django_capture_on_commit_callbacks() as kicks, django_assert_num_queries(0):
        send_callbacks(items)
    assert len(kicks) == 1
    assert len(statements) == 1 and statements[0].startswith("INSERT INTO webhooks_callback")
    assert Callback.objects.filter(app=app).count() == 20
    send_callbacks(items)  # the same keys again: nothing new
    assert Callback.objects.filter(app=app).count() == 20


def test_the_schedule_ends_in_failed(app, receiver):
    receiver.answer("/status", 500)
    row = record(app, f"{receiver.base}/status")
    Callback.objects.filter(pk=row.pk).update(attempts=7)
    assert callbacks_deliver() == {"delivered": 0, "retrying": 0, "failed": 1}
    row.refresh_from_db()
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 8, None)


def test_a_redirect_is_not_followed(app, receiver):
    receiver.answer("/status", 302, location="http://169.254.169.254/latest/meta-data/")
    row = record(app, f"{receiver.base}/status")
    assert callbacks_deliver()["retrying"] == 1
    row.refresh_from_db()
    assert row.last_error == "redirect to http://169.254.169.254/latest/meta-data/ not followed"
    assert len(receiver.received) == 1


def test_a_private_address_is_never_contacted_and_fails_at_once(app, monkeypatch):
    monkeypatch.setattr(egress_conf, "ALLOWED_CIDRS", [])
    row = record(app, "http://169.254.169.254/latest/meta-data/")
    assert callbacks_deliver() == {"delivered": 0, "retrying": 0, "failed": 1}
    row.refresh_from_db()
    assert row.status == "failed" and "link-local" in row.last_error


def test_delivering_twice_sends_once(app, receiver):
    record(app, f"{receiver.base}/status")
    callbacks_deliver()
    callbacks_deliver()
    assert len(receiver.received) == 1


def test_a_claimed_row_is_skipped_by_a_second_worker_until_its_lease_ends(app, receiver):
    row = record(app, f"{receiver.base}/status")
    assert [r.id for r in callbacks._claim(10)] == [row.pk]  # a worker took it, then died without recording
    assert callbacks_deliver()["delivered"] == 0
    make_due(row)  # the lease ran out
    assert callbacks_deliver()["delivered"] == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("delivered", 2)


def test_batches_reuse_the_process_s_keep_alive_connections(app, receiver):
    record(app, f"{receiver.base}/status", key="k1")
    callbacks_deliver()
    record(app, f"{receiver.base}/status", key="k2")
    callbacks_deliver()
    assert len(receiver.ports) == 2
    assert receiver.ports[0] == receiver.ports[1]  # the same connection: no new pool per batch


def test_a_batch_is_claimed_in_one_statement_and_its_outcomes_written_in_one(app, receiver, monkeypatch):
    statements = []

    def counted(cursor, sql, params):  # the real statement, counted
        statements.append(sql.split(" SET ")[0])
        return execute_prepared(cursor, sql, params)

    monkeypatch.setattr(callbacks, "execute_prepared", counted)
    receiver.answer("/b", 503)
    receiver.answer("/c", 500)
    a, b, c = (record(app, f"{receiver.base}/{p}", key=p) for p in "abc")
    Callback.objects.filter(pk=c.pk).update(attempts=7)  # its last attempt
    statements.clear()
    with CaptureQueriesContext(connection) as queries:
        assert callbacks_deliver() == {"delivered": 1, "retrying": 1, "failed": 1}
    assert not [q for q in queries if "webhooks_callback" in q["sql"]]  # nothing through the ORM
    # the batch's claim, its outcomes, and the empty claim that ends the run
    assert statements == ["UPDATE webhooks_callback", "UPDATE webhooks_callback c", "UPDATE webhooks_callback"]
    rows = {row.pk: row for row in Callback.objects.all()}
    assert (rows[a.pk].status, rows[a.pk].last_status_code, rows[a.pk].next_attempt_at) == ("delivered", 200, None)
    assert rows[a.pk].delivered_at is not None
    assert (rows[b.pk].status, rows[b.pk].last_status_code, rows[b.pk].attempts) == ("pending", 503, 1)
    assert rows[b.pk].next_attempt_at > timezone.now()
    assert (rows[c.pk].status, rows[c.pk].attempts, rows[c.pk].next_attempt_at) == ("failed", 8, None)


def test_an_outcome_is_not_written_over_a_row_another_worker_took(app):
    from webhooks.callbacks import _claim, _record
    from webhooks.sender import Result

    row = record(app, "https://tenant.example/status")
    (mine,) = _claim(10)
    Callback.objects.filter(pk=row.pk).update(attempts=2)  # the lease ran out; another worker claimed it
    _record([mine], [Result(status_code=200)])
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 2, None)


def test_each_app_signs_with_its_own_secret(app, other_provisioned, receiver):
    register_signer("test", lambda app_id: [SECRET if app_id == app.id else "whsec_b3RoZXI="])
    record(app, f"{receiver.base}/a")
    record(other_provisioned.app, f"{receiver.base}/b")
    callbacks_deliver()
    [(headers, body)] = receiver.posted("/b")
    with pytest.raises(Exception):  # noqa: B017 - any verification failure
        Webhook(SECRET).verify(body.decode(), headers)
    Webhook("whsec_b3RoZXI=").verify(body.decode(), headers)


# --- a real worker killed mid-send; the next one sends the same callback ------------------------

def _worker(tmp_path: Path, name: str) -> subprocess.Popen:
    db = connection.settings_dict
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "CPAAS_TESTING": "1",
           "CPAAS_VAR_DIR": str(tmp_path / "var"),
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
           "REDIS_URL": settings.REDIS_URL, "EGRESS_ALLOWED_CIDRS": "127.0.0.0/8",
           "WEBHOOK_CLAIM_LEASE_SECONDS": "3", "WEBHOOK_TOTAL_TIMEOUT": "2.5", "LOG_LEVEL": "WARNING"}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "cpaas", "worker", "-Q", "webhooks", "-c", "1", "-n",
         f"{name}-{os.getpid()}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "--loglevel=WARNING"],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / f"{name}.log", "wb"))


def _kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def _wait(predicate, seconds: float, every: float = 0.1) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_callback_survives_a_worker_killed_while_sending_it(app, receiver, tmp_path):
    redis.Redis.from_url(settings.REDIS_URL).delete("webhooks")  # no stale tasks from other tests
    cache.delete(KICK_KEY)  # a kick left by an earlier test must not swallow ours
    receiver.hang = threading.Event()  # the first POST never gets an answer
    first = _worker(tmp_path, "first")
    second = None
    try:
        # Channel "voice": a signer every process registers at start (the test's is ours only).
        row = record(app, f"{receiver.base}/status", channel="voice")  # commits: the kick enqueues a task
        assert _wait(lambda: receiver.received, 30), "the first worker never sent the callback"
        _kill(first)  # SIGKILL mid-request: nothing recorded, the row stays leased

        second = _worker(tmp_path, "second")
        from webhooks.tasks import deliver_callbacks

        def delivered() -> bool:
            deliver_callbacks.delay()  # what beat does every few seconds
            return Callback.objects.filter(pk=row.pk, status="delivered").exists()

        assert _wait(delivered, 30, every=1.0), Callback.objects.filter(pk=row.pk).values().first()
    finally:
        _kill(first)
        if second is not None:
            _kill(second)
    (h1, b1), (h2, b2) = receiver.posted("/status")
    assert (h1["webhook-id"], b1) == (h2["webhook-id"], b2) == (row.id, row.body.encode())
    assert Callback.objects.get(pk=row.pk).attempts == 2


@pytest.mark.django_db(transaction=True)
def test_a_run_takes_callbacks_recorded_while_it_runs_and_their_commits_enqueue_no_task(app, receiver):
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("webhooks")
    record(app, f"{receiver.base}/status", key="before")

    def later() -> None:
        try:
            for n in range(2):
                time.sleep(0.15)
                record(app, f"{receiver.base}/status", key=f"during-{n}")
        finally:
            connection.close()

    thread = threading.Thread(target=later)
    thread.start()
    started = time.monotonic()
    assert callbacks_deliver(idle_exit=0.6) == {"delivered": 3, "retrying": 0, "failed": 0}
    thread.join()
    assert time.monotonic() - started >= 0.9  # it stayed until 0.6 s passed without work
    assert broker.llen("webhooks") == 0  # the run held the kick: no task per commit
    assert cache.get(KICK_KEY) is None  # and let go of it when it left
    record(app, f"{receiver.base}/status", key="after")
    assert broker.llen("webhooks") == 1  # the next commit kicks a run again
    broker.delete("webhooks")
