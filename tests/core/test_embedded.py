"""The embedded PostgreSQL and Redis of ``make run``: real servers from pip packages, data in var/."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
import redis

from cpaas.core import embedded


@pytest.fixture
def paths():
    # Outside pytest's temporary root: as root the server runs as `nobody`, which must reach var/.
    var_dir = Path(tempfile.mkdtemp(prefix="cpaas-embedded-")) / "var"
    yield embedded.Paths(var_dir)
    shutil.rmtree(var_dir.parent, ignore_errors=True)


def start(argv: list[str], ready, **user) -> subprocess.Popen:
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, **user)
    deadline = time.monotonic() + 30
    while not ready():
        assert process.poll() is None, "the server exited while starting"
        assert time.monotonic() < deadline, "the server did not answer within 30 s"
        time.sleep(0.05)
    return process


def stop(process: subprocess.Popen, sig: int = signal.SIGINT) -> None:
    process.send_signal(sig)
    assert process.wait(timeout=30) == 0


def test_postgresql_keeps_its_data_in_var_across_a_restart(paths):
    user = {"user": embedded.server_user(), "group": embedded.server_group()}
    server = start(embedded.prepare_postgres(paths), lambda: embedded.postgres_ready(paths), **user)
    try:
        with psycopg.connect(paths.database_url().replace("postgres://", "postgresql://"), autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (note text)")
            conn.execute("INSERT INTO kept VALUES ('still here')")
    finally:
        stop(server)

    assert (paths.pgdata / "PG_VERSION").exists()
    server = start(embedded.prepare_postgres(paths), lambda: embedded.postgres_ready(paths), **user)
    try:
        with psycopg.connect(paths.database_url().replace("postgres://", "postgresql://")) as conn:
            assert conn.execute("SELECT note FROM kept").fetchone() == ("still here",)
            assert conn.execute("SHOW server_version").fetchone()[0].startswith("18.")
            assert conn.execute("SHOW listen_addresses").fetchone() == ("",)  # the socket only
    finally:
        stop(server)


def test_redis_answers_on_its_socket_and_speaks_redis_7(paths):
    server = start(embedded.redis_command(paths), lambda: embedded.redis_ready(paths))
    try:
        client = redis.Redis.from_url(paths.redis_url())
        client.set("k", 1)
        assert client.expire("k", 60, nx=True)  # Redis 7: what the SMS counters use
        assert int(client.info("server")["redis_version"].split(".")[0]) >= 7
    finally:
        stop(server, signal.SIGTERM)


def test_a_var_dir_too_deep_for_a_unix_socket_gets_a_short_one_in_the_temporary_directory():
    short = embedded.Paths(Path("/srv/cpaas/var"))
    deep = embedded.Paths(Path("/srv/" + "d" * 120 + "/var"))

    assert short.socket_dir == Path("/srv/cpaas/var/run")
    assert deep.socket_dir.parent == Path(tempfile.gettempdir())
    assert deep.socket_dir == embedded.Paths(Path("/srv/" + "d" * 120 + "/var")).socket_dir  # stable
    assert len(str(deep.socket_dir / ".s.PGSQL.5432")) < 100
