"""Database helpers shared by the hot write paths (webhooks publish and claims, billing ledger,
SMS single sends), and the thread pool that runs Django's database work for event loops."""

from __future__ import annotations

import contextlib
import select
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import pq


def pg_cursor(db=None):
    """A cursor with server-side parameter binding on Django's connection (PostgreSQL only):
    arrays and many values are dumped in C, where Django's client-side cursor inlines each one as
    a quoted literal (a hot statement can also be prepared: :func:`execute_prepared`).

    It keeps Django's per-request (and, in workers, per-task) health check
    (``CONN_HEALTH_CHECKS``) but does it without the ``SELECT 1`` round trip, which cost a single
    SMS send as much as its statement's own parsing and planning. psycopg's errors on this cursor
    do not mark the connection as Django's do, so without the check a connection the server
    dropped would fail every later task of a worker that keeps its connections (decision 0012).

    An idle connection has nothing to read: a server that ended it (restart, terminated backend,
    idle timeout) left a FATAL message or an EOF on the socket. So the check looks at the socket
    and the connection's state; only when something is there does Django's own check (the
    ``SELECT 1``) decide, replacing a dead connection before the statement runs, exactly as
    ``connection.cursor()`` would. Running the statement inside ``db.wrap_database_errors`` makes
    its errors Django's (decision 0420). ``db``: the default connection's wrapper (each
    ``connection.x`` costs a thread-local lookup).
    """
    if db is None:
        db = connections[DEFAULT_DB_ALIAS]
    raw = db.connection
    if raw is not None and db.health_check_enabled and not db.health_check_done:
        if idle_and_open(raw):
            db.health_check_done = True
        else:
            db.close_if_health_check_failed()
            raw = None
    if raw is None:
        db.ensure_connection()
        raw = db.connection
    if db.needs_rollback:
        db.validate_no_broken_transaction()
    return psycopg.Cursor(raw)


# psycopg prepares a statement executed with ``prepare=True`` only on a connection whose
# ``prepare_threshold`` is not None, and Django opens every connection with None (prepared
# statements off), so ``prepare=True`` alone does nothing there. A threshold nothing reaches means
# "only when asked".
PREPARE_ONLY_WHEN_ASKED = 2**31 - 1


def execute_prepared(cursor, sql: str, params) -> None:
    """Run ``sql`` on a ``pg_cursor`` as a prepared statement of this
    connection (parsed and planned once per connection, then a generic plan), leaving the
    connection's setting for every other statement as it was. For hot statements whose plan
    does not depend on the values; about 40 % of the SMS send INSERT's database time
    (decision 0420)."""
    raw = cursor.connection
    threshold = raw.prepare_threshold
    if threshold is None:
        raw.prepare_threshold = PREPARE_ONLY_WHEN_ASKED
    try:
        cursor.execute(sql, params, prepare=True)
    finally:
        if threshold is None:
            raw.prepare_threshold = None


def idle_and_open(raw) -> bool:
    """True when libpq holds the connection as open and the server has sent nothing since the
    last answer (a poll of the socket, no round trip)."""
    pgconn = raw.pgconn
    if raw.closed or pgconn.status != pq.ConnStatus.OK:
        return False
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN | select.POLLPRI)
    return not poller.poll(0)


def chunks(items: list, size: int) -> Iterator[list]:
    """``items`` in consecutive slices of at most ``size`` (statements with bounded parameters)."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


class DbThreads:
    """Threads that run synchronous Django database work for an event loop (the IM gateway, the
    lean SMS send path), so the loop never blocks. Started with the first use; each thread keeps
    its own Django connection, and :meth:`shutdown` has each thread close its own exactly once."""

    def __init__(self, size: int, name: str) -> None:
        self.size = max(1, size)
        self.name = name
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.size, thread_name_prefix=self.name)
            return self._pool

    def shutdown(self) -> None:
        """Close every thread's Django connections and stop the threads (blocks; the next use
        starts a new pool). One job per thread: each waits at a barrier until all the threads hold
        one, so no thread takes two and none is left out."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        barrier = threading.Barrier(self.size)

        def close_own_connections() -> None:
            with contextlib.suppress(threading.BrokenBarrierError):  # a thread busy past the wait
                barrier.wait(5)
            connections.close_all()

        for job in [pool.submit(close_own_connections) for _ in range(self.size)]:
            job.exception()
        pool.shutdown(wait=True)
