"""Shared set-up for the benchmarks: environment, database, a provisioned tenant and key."""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_VAR = ROOT / "var" / "bench"


def configure_env() -> None:
    """Point Django at the bench settings; a bench run needs some SECRET_KEY, never a real one."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ.setdefault("SECRET_KEY", "bench-" + secrets.token_urlsafe(32))
    BENCH_VAR.mkdir(parents=True, exist_ok=True)
    # Without DATABASE_URL / REDIS_URL, the servers `make test` uses, with a database of the bench's
    # own (not the embedded ones of `make run`, which may not be running).
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cpaas_bench")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")


def ensure_database() -> None:
    """Create the PostgreSQL database named in DATABASE_URL when it does not exist yet."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        return
    import psycopg

    try:
        psycopg.connect(
            dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"] or None,
            host=db["HOST"] or None, port=db["PORT"] or None, connect_timeout=5,
        ).close()
        return
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
    with psycopg.connect(
        dbname="postgres", user=db["USER"], password=db["PASSWORD"] or None,
        host=db["HOST"] or None, port=db["PORT"] or None, autocommit=True, connect_timeout=5,
    ) as conn:
        conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


def backends() -> str:
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    gate = "Redis" if settings.REDIS_URL else "in-process (no REDIS_URL)"
    return f"database: {engine} ({settings.DATABASES['default']['NAME']}), rate-limit gate: {gate}"


@dataclass(frozen=True)
class BenchKey:
    tenant_id: str
    app_id: str
    key_id: str
    secret: str


def provision_key(rate_limit: int = 100_000) -> BenchKey:
    """A fresh tenant with a test key whose rate limit is far above anything the bench can send."""
    from cpaas.tenants.keys import api_key_create, tenant_set_limit
    from cpaas.tenants.services import tenant_provision

    provisioned = tenant_provision(name=f"bench {secrets.token_hex(4)}")
    tenant_set_limit(tenant=provisioned.tenant, live=rate_limit, test=rate_limit, actor="bench")
    created = api_key_create(app=provisioned.app, name="bench key", rate_limit=rate_limit)
    return BenchKey(
        tenant_id=provisioned.tenant.id,
        app_id=provisioned.app.id,
        key_id=created.key.id,
        secret=created.secret,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- driving a server with wrk ------------------------------------------------------------------

def run(cmd, **kwargs):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs)


def wrk(url: str, lua: str, seconds: int, connections: int) -> tuple[float, int, int]:
    """(requests/s, requests, non-2xx) from one wrk run."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    out = run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "-s", script.name, url]).stdout
    os.unlink(script.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rate, total, int(bad.group(1)) if bad else 0


# --- CPU accounting from /proc (Linux) -------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def proc_cpu(pids) -> float:
    """CPU seconds (user + system) these processes have used so far; gone ones count 0."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                stack.extend(int(child) for child in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU ticks of the whole machine so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)
