"""The production-like SMS deployment the end-to-end benchmarks run against, and its CPU meter.

One ``Chain`` is: gunicorn serving ``bench.sms:application``, Celery workers on the ``sms`` and
``webhooks`` queues, the test SMSC process (tests/carriers/smsc_server.py, run as a subprocess,
never imported), an SMPP connector and route to it, and a receiver process that verifies each
signed POST (Standard Webhooks) and appends ``[type, data.id, received at, webhook-id]`` to a
JSON-lines file. Both ``bench/sms.py``'s batch scenario and ``bench/sms_per_message.py`` use it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench._support import TICK, descendants, free_port, machine_busy, proc_cpu, wrk

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def env_for_children() -> dict:
    env = dict(os.environ)
    env.setdefault("SECRET_KEY", "bench-" + secrets.token_urlsafe(24))
    env["DJANGO_SETTINGS_MODULE"] = "cpaas.settings"
    env["PYTHONPATH"] = str(ROOT)
    env["LOG_LEVEL"] = "WARNING"
    env.setdefault("EGRESS_ALLOWED_CIDRS", "127.0.0.0/8")  # the receiver listens on loopback
    env["ACCESS_LOG_LEVEL"] = os.environ.get("ACCESS_LOG_LEVEL", "INFO")
    return env


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def start_gunicorn(port: int, workers: int = 2) -> subprocess.Popen:
    log = open(ROOT / "var" / "bench-sms-gunicorn.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [PY, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--chdir", str(ROOT),
         "bench.sms:application"],
        env=env_for_children(), stdout=log, stderr=log, start_new_session=True)
    wait_port(port)
    return process


def start_uvicorn(port: int, workers: int = 2) -> subprocess.Popen:
    log = open(ROOT / "var" / "bench-sms-uvicorn.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [PY, "-m", "uvicorn", "bench.sms_asgi:application", "--workers", str(workers), "--host", "127.0.0.1",
         "--port", str(port), "--lifespan", "off", "--no-access-log", "--no-proxy-headers", "--log-level", "warning"],
        cwd=ROOT, env=env_for_children(), stdout=log, stderr=log, start_new_session=True)
    wait_port(port)
    return process


WEB_SERVERS = {"gunicorn": start_gunicorn, "uvicorn": start_uvicorn}


def warm_up(url: str, lua: str, connections: int, server_pid: int, rounds: int = 6) -> None:
    """Drive ``url`` in 2 s rounds until one costs the server what the one before did: each
    worker sets Django up at its first request (seconds of CPU on a loaded machine), which must
    not land in a measured round."""
    previous = None
    for _ in range(rounds):
        before = proc_cpu(descendants(server_pid))
        _, total, _ = wrk(url, lua, 2, connections)
        cost = (proc_cpu(descendants(server_pid)) - before) / max(1, total)
        if previous is not None and total and cost < previous * 1.2:
            return
        previous = cost


def stop(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


RECEIVER = r'''
import json, sys, time
from standardwebhooks import Webhook
hook = Webhook(sys.argv[2])
out = open(sys.argv[3], "a", buffering=1)

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        event = await receive()
        body += event.get("body", b"")
        if not event.get("more_body"):
            break
    headers = {k.decode(): v.decode() for k, v in scope["headers"]}
    try:
        payload = hook.verify(body, headers)
        out.write(json.dumps([payload["type"], payload["data"]["id"], time.time(), headers["webhook-id"]]) + "\n")
        status = 204
    except Exception as exc:
        out.write(json.dumps(["bad-signature", str(exc), time.time(), headers.get("webhook-id", "")]) + "\n")
        status = 400
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b""})

if __name__ == "__main__":
    import uvicorn
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
'''


def read_received(path: Path) -> list[list]:
    """The receiver's lines so far: ``[type, message id, received at, webhook-id]``."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("]")]


def ensure_bare_table() -> None:
    """The table the baseline view inserts into (bench/sms_cpu.py and profile_sms_send.py too)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_sms_bare (id bigserial PRIMARY KEY, to_number text, "
                       "body text, created_at timestamptz)")


def callback_secret_rotate(api_url: str, secret: str) -> str:
    """A new signing secret for the app's status callbacks, through the public API."""
    response = httpx.post(f"{api_url}/v1/sms/settings/rotate-callback-secret",
                          headers={"Authorization": f"Bearer {secret}"}, timeout=30)
    response.raise_for_status()
    return response.json()["callback_secret"]


# --- CPU per message of the whole chain ---------------------------------------------------------

def _redis_pids() -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/comm") as f:
                    if f.read().strip() == "redis-server":
                        pids.append(int(name))
            except OSError:
                continue
    return pids


class ChainCpu:
    """CPU seconds used by each part of the end-to-end chain (a process and its descendants;
    PostgreSQL: this database's backends, and apart the server's own background processes (WAL
    writer, checkpointer…); Redis; not
    counted: processes that exit during the run), so the run can say how many milliseconds of CPU
    one message costs and where: req/s swings with the machine's other load, CPU per message much
    less. PostgreSQL's background processes and Redis serve every database on the server: on a
    shared machine their share includes other users' work."""

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots = roots

    def sample(self) -> dict[str, float]:
        from django.db import connection

        out = {label: proc_cpu(descendants(root)) for label, root in self.roots.items()}
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid, backend_type = 'client backend' FROM pg_stat_activity WHERE (datname = "
                           "current_database() AND backend_type = 'client backend') OR backend_type IN ("
                           "'walwriter', 'checkpointer', 'background writer', 'autovacuum worker', 'walsender')")
            rows = cursor.fetchall()
        out["postgresql"] = proc_cpu(pid for pid, ours in rows if ours)
        out["postgresql (server-wide)"] = proc_cpu(pid for pid, ours in rows if not ours)
        out["this driver"] = proc_cpu([os.getpid()])
        out["redis"] = proc_cpu(_redis_pids())
        out["machine busy"] = machine_busy()[0] / TICK  # the whole machine: all but idle and iowait
        return out

    @staticmethod
    def per_message(before: dict[str, float], after: dict[str, float], messages: int) -> dict[str, float]:
        """Milliseconds of CPU per message, by part."""
        return {label: (after[label] - before.get(label, 0.0)) * 1000 / max(1, messages) for label in after}


def vacuum_hot_tables() -> None:
    """Start from vacuumed, analyzed queue tables. PostgreSQL on this project's machines runs with
    autovacuum off: without this, every earlier run's dead rows stay in the claim indexes (a claim
    walked 4,000 dead index pages after half a million messages) and the planner works from no
    statistics at all, so a run measured the database's history more than the code."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        if cursor.fetchone()[0] == "on":
            return
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename = ANY(%s)",
                       [["messaging_message", "webhooks_callback", "webhooks_delivery", "webhooks_event",
                         "webhooks_subjectsequence", "webhooks_attempt", "billing_usageevent"]])
        for (table,) in cursor.fetchall():  # whichever of them this schema has
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def _celery(queue: str, concurrency: int, name: str, log) -> subprocess.Popen:
    env = env_for_children()
    subprocess.run([PY, "-m", "celery", "-A", "cpaas", "purge", "-f", "-Q", queue], cwd=ROOT, env=env,
                   capture_output=True)
    return subprocess.Popen([PY, "-m", "celery", "-A", "cpaas", "worker", "-Q", queue, "-c", str(concurrency),
                             "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING",
                             "-n", f"{name}-{os.getpid()}@%h"],
                            cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)


class Chain:
    """The deployment of one end-to-end run. ``with Chain(app) as chain`` starts the API (``web``:
    gunicorn with sync workers, or uvicorn as production runs it; so a
    caller can use it, e.g. to get a signing secret); ``chain.start(secret)`` starts the rest;
    leaving the block stops every process and removes the SMPP connector and route."""

    def __init__(self, app, *, workers: int = 2, webhook_workers: int = 1, webhooks_worker: bool = True,
                 dlr_delay: float = 0.0, web: str = "gunicorn", web_workers: int = 2) -> None:
        self.app = app
        self.workers, self.webhook_workers, self.webhooks_worker = workers, webhook_workers, webhooks_worker
        self.dlr_delay, self.web, self.web_workers = dlr_delay, web, web_workers
        self.smsc_port, self.hook_port, self.api_port = free_port(), free_port(), free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.hook_url = f"http://127.0.0.1:{self.hook_port}/hook"
        self.workdir = Path(tempfile.mkdtemp(prefix="sms-bench-"))
        self.received_path = self.workdir / "received.jsonl"
        self.roots: dict[str, int] = {}
        self.processes: list[subprocess.Popen] = []
        self.route = self.connector = None

    def __enter__(self) -> Chain:
        from cpaas.messaging.models import Message

        (ROOT / "var").mkdir(exist_ok=True)
        # Work left queued in this database by earlier runs would be dispatched first and skew the run.
        stale = Message.objects.filter(status__in=["queued", "sending"]).update(status="canceled")
        if stale:
            print(f"  (canceled {stale} messages left queued by earlier runs)")
        vacuum_hot_tables()
        self.api = WEB_SERVERS[self.web](self.api_port, self.web_workers)
        self.processes.append(self.api)
        self.roots["web"] = self.api.pid
        return self

    def start(self, signing_secret: str) -> None:
        from cpaas.messaging.connectors import connector_save
        from cpaas.messaging.models import Route

        env = env_for_children()
        (self.workdir / "receiver.py").write_text(RECEIVER)
        smsc = subprocess.Popen([PY, str(ROOT / "tests" / "carriers" / "smsc_server.py"), "--port",
                                 str(self.smsc_port), "--dlr-delay", str(self.dlr_delay)],
                                stdout=subprocess.PIPE, text=True, env=env, start_new_session=True)
        self.processes.append(smsc)
        assert smsc.stdout.readline().startswith("READY")
        receiver = subprocess.Popen([PY, str(self.workdir / "receiver.py"), str(self.hook_port), signing_secret,
                                     str(self.received_path)], env=env, start_new_session=True)
        self.processes.append(receiver)
        self.connector, _ = connector_save(id=f"bench-smsc-{self.smsc_port}", kind="smpp", throughput=5000, config={
            "host": "127.0.0.1", "port": self.smsc_port, "system_id": "bench", "password": "pw", "window": 100})
        self.route = Route.objects.create(app=self.app, prefix="+1", priority=0, connector=self.connector)
        log = open(ROOT / "var" / "bench-sms-worker.log", "w")  # noqa: SIM115
        worker = _celery("sms", self.workers, "sms-bench", log)
        self.processes.append(worker)
        self.roots["sms workers"] = worker.pid
        if self.webhooks_worker:
            # Status callbacks are rows of the shared callback outbox (decision 0930): this worker
            # posts them, and webhooks.
            hooks = _celery("webhooks", self.webhook_workers, "sms-bench-hooks", log)
            self.processes.append(hooks)
            self.roots["webhooks worker"] = hooks.pid
        self.roots["smsc (test peer)"] = smsc.pid
        self.roots["receiver (test peer)"] = receiver.pid
        wait_port(self.hook_port)
        time.sleep(3)  # worker processes start and bind

    def received(self) -> list[list]:
        return read_received(self.received_path)

    def __exit__(self, *exc) -> None:
        from cpaas.messaging.models import Message

        for process in reversed(self.processes):
            stop(process)
        if self.route is not None:
            self.route.delete()
            self.connector.delete()
        Message.objects.filter(app=self.app, status__in=["queued", "sending"]).update(status="canceled")
