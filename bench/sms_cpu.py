"""CPU per request of the single-send path against the bare DRF + INSERT view, from /proc.

    DATABASE_URL=postgres://… REDIS_URL=redis://… PYTHONPATH=. python bench/sms_cpu.py [--web uvicorn]

Serves bench/sms.py's app with gunicorn (2 sync workers), drives both URLs with wrk (3 alternating
6 s rounds, 8 connections), and divides the CPU time that the gunicorn processes and their
PostgreSQL backends used by the requests served. ``--web uvicorn``: two uvicorn servers (2
workers each) serving production's ``cpaas.asgi`` routing, one with the lean send path and one
with ``SMS_LEAN_ACCEPT=0`` (the Django view), with rounds alternating over the bare view and
``/v1/messages`` on each: the lean path's A/B in one run (decision 1010). On a shared machine req/s swings with other
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
    from bench.sms_chain import start_uvicorn

    web = "uvicorn" if "--web" in sys.argv and sys.argv[sys.argv.index("--web") + 1] == "uvicorn" else "gunicorn"
    sms.setup_django()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    _app, secret = sms.provision()
    sms.ensure_bare_table()
    (sms.ROOT / "var").mkdir(exist_ok=True)
    servers = {}
    if web == "gunicorn":
        port = sms.free_port()
        servers["gunicorn"] = (sms.start_gunicorn(port), f"http://127.0.0.1:{port}")
        runs = [("bare", "gunicorn", PATHS[0]), ("send", "gunicorn", PATHS[1])]
    else:
        for name, lean in (("lean", "1"), ("django", "0")):
            os.environ["SMS_LEAN_ACCEPT"] = lean  # the children inherit it
            port = sms.free_port()
            servers[name] = (start_uvicorn(port), f"http://127.0.0.1:{port}")
        os.environ.pop("SMS_LEAN_ACCEPT")
        runs = [("bare", "lean", PATHS[0]), ("send, lean path", "lean", PATHS[1]),
                ("send, Django view", "django", PATHS[1])]
    database = connection.settings_dict["NAME"]

    def processes(server) -> list[list[int]]:
        workers = descendants(server.pid)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
                           "AND backend_type = 'client backend'", [database])
            return [workers, [row[0] for row in cursor.fetchall()]]

    try:
        for _label, name, path in runs:  # warm every path: imports, connections, caches
            sms.wrk(servers[name][1], sms.SINGLE_LUA % {"secret": secret, "path": path}, 2, 8)
        rounds: dict[str, list[tuple[float, float, float]]] = {label: [] for label, _, _ in runs}
        for _ in range(3):
            for label, name, path in runs:
                server, url = servers[name]
                workers, backends = processes(server)
                before = proc_cpu(workers), proc_cpu(backends)
                rate, total, _bad = sms.wrk(url, sms.SINGLE_LUA % {"secret": secret, "path": path}, 6, 8)
                python = (proc_cpu(workers) - before[0]) / total * 1e6
                postgres = (proc_cpu(backends) - before[1]) / total * 1e6
                rounds[label].append((python, postgres, rate))
    finally:
        for server, _url in servers.values():
            sms.stop(server)
    totals = {}
    for label, rows in rounds.items():
        python = statistics.median(row[0] for row in rows)
        postgres = statistics.median(row[1] for row in rows)
        totals[label] = python + postgres
        print(f"{label:18s} {web:8s} python {python:6.0f} µs  postgres {postgres:5.0f} µs  total "
              f"{python + postgres:6.0f} µs CPU per request (median of 3); req/s {[round(row[2]) for row in rows]}")
    bare = totals.pop("bare")
    print("bare/send CPU per request " + ", ".join(f"{label} {bare / total:.2f}" for label, total in totals.items())
          + f"; load {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
