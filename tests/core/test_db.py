"""pg_cursor: Django's per-request connection health check without a SELECT 1."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections

from cpaas.core.db import DbThreads, idle_and_open, pg_cursor


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _terminate(pid: int) -> None:
    """End ``pid``'s backend from another connection, as a server restart or an idle timeout would."""
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        other.autocommit = True
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()
    deadline = time.monotonic() + 5
    while idle_and_open(connection.connection) and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_ended_is_replaced_before_the_statement():
    dead = _backend_pid()
    _terminate(dead)
    connection.health_check_done = False  # a new request
    with pg_cursor() as cursor, connection.wrap_database_errors:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != dead


@pytest.mark.django_db(transaction=True)
def test_a_healthy_connection_is_checked_without_a_round_trip(monkeypatch):
    _backend_pid()
    connection.health_check_done = False
    monkeypatch.setattr(connections["default"], "is_usable", lambda: pytest.fail("SELECT 1 sent"))
    with pg_cursor() as cursor:
        cursor.execute("SELECT 1")
    assert connection.health_check_done


@pytest.mark.django_db(transaction=True)
def test_without_health_checks_nothing_is_checked(monkeypatch):
    _backend_pid()
    monkeypatch.setattr(connections["default"], "health_check_enabled", False)
    connection.health_check_done = False
    monkeypatch.setattr(connections["default"], "is_usable", lambda: pytest.fail("checked"))
    with pg_cursor() as cursor:
        cursor.execute("SELECT 1")


@pytest.mark.django_db(transaction=True)
def test_execute_prepared_prepares_once_and_leaves_the_connection_setting_alone():
    from cpaas.core.db import execute_prepared

    sql = "SELECT %s::int + 1 AS answer_for_test_db"
    with pg_cursor() as cursor:
        for value in (1, 2, 3):
            execute_prepared(cursor, sql, [value])
            assert cursor.fetchone()[0] == value + 1
        assert cursor.connection.prepare_threshold is None  # other statements: never prepared
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
                       ["%answer_for_test_db%"])
        assert cursor.fetchone()[0] == 1


@pytest.mark.django_db(transaction=True)
def test_db_threads_close_every_threads_connection_at_shutdown():
    """Each thread of the pool closes its own Django connection at shutdown (none is left open,
    none is closed by a thread that does not own it), and the next use starts a new pool."""
    threads = DbThreads(3, "test-db")
    all_busy = threading.Barrier(3)

    def open_one() -> int:
        all_busy.wait(5)  # three jobs at once: one on each thread
        return _backend_pid()

    pids = {job.result() for job in [threads.executor().submit(open_one) for _ in range(3)]}
    assert len(pids) == 3
    threads.shutdown()
    deadline, left = time.monotonic() + 5, len(pids)
    while left and time.monotonic() < deadline:  # a backend ends just after its client closed
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [list(pids)])
            left = cursor.fetchone()[0]
        time.sleep(0.02)
    assert left == 0
    assert threads.executor().submit(lambda: 7).result() == 7
    threads.shutdown()
