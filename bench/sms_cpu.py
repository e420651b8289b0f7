"""CPU per request of the single-send path against the bare DRF + INSERT view, from /proc.

    DATABASE_URL=postgres://… REDIS_URL=redis://… PYTHONPATH=. python bench/sms_cpu.py

Serves bench/sms.py's app with gunicorn (2 sync workers), drives both URLs with wrk (3 alternating
6 s rounds, 8 connections), and divides the CPU time that the gunicorn processes and their
PostgreSQL backends used by the requests served. On a shared machine req/s swings with other
load; CPU per request moves much less, so this shows where a change saved work (Python or the
database). Linux only (reads /proc).
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PATHS = ("/bench/sms-bare", "/v1/messages")


def main() -> int:
    from bench import sms
    from bench._support import descendants, proc_cpu

    sms.setup_django()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    _app, secret = sms.provision()
    sms.ensure_bare_table()
    (sms.ROOT / "var").mkdir(exist_ok=True)
    port = sms.free_port()
    server = sms.start_gunicorn(port)
    url = f"http://127.0.0.1:{port}"
    database = connection.settings_dict["NAME"]

    def processes() -> list[list[int]]:
        workers = descendants(server.pid)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
                           "AND backend_type = 'client backend'", [database])
            return [workers, [row[0] for row in cursor.fetchall()]]

    try:
        for path in PATHS:  # warm both paths: imports, connections, caches
            sms.wrk(url, sms.SINGLE_LUA % {"secret": secret, "path": path}, 2, 8)
        rounds: dict[str, list[tuple[float, float, float]]] = {path: [] for path in PATHS}
        for _ in range(3):
            for path in PATHS:
                workers, backends = processes()
                before = proc_cpu(workers), proc_cpu(backends)
                rate, total, _bad = sms.wrk(url, sms.SINGLE_LUA % {"secret": secret, "path": path}, 6, 8)
                python = (proc_cpu(workers) - before[0]) / total * 1e6
                postgres = (proc_cpu(backends) - before[1]) / total * 1e6
                rounds[path].append((python, postgres, rate))
    finally:
        sms.stop(server)
    totals = {}
    for path, rows in rounds.items():
        python = statistics.median(row[0] for row in rows)
        postgres = statistics.median(row[1] for row in rows)
        totals[path] = python + postgres
        print(f"{path:16s} python {python:6.0f} µs  postgres {postgres:5.0f} µs  total {python + postgres:6.0f} µs "
              f"CPU per request (median of 3); req/s {[round(row[2]) for row in rows]}")
    print(f"bare/send CPU per request {totals[PATHS[0]] / totals[PATHS[1]]:.2f}; load {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
