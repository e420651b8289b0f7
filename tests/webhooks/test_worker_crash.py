"""At-least-once: a real Celery worker is killed mid-delivery; another one redelivers the same webhook-id."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection, transaction

from webhooks import publish
from webhooks.models import Delivery
from webhooks.services import KICK_KEY

ROOT = Path(__file__).resolve().parents[2]


class _Hanging(BaseHTTPRequestHandler):
    """Hangs on the first request it sees (until released), answers 200 to every later one."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_POST(self):
        state = self.server.state
        self.rfile.read(int(self.headers.get("content-length") or 0))
        webhook_id = self.headers["webhook-id"]
        with state["lock"]:
            state["ids"].append(webhook_id)
            first = state["hung"] is None
            if first:
                state["hung"] = webhook_id
        if first:
            state["arrived"].set()
            state["release"].wait(30)
            self.close_connection = True
            return
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


def _start_worker(tmp_path: Path, name: str) -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CPAAS_TESTING": "1",
        "CPAAS_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
        "EGRESS_ALLOWED_CIDRS": "127.0.0.0/8",
        "WEBHOOK_CLAIM_LEASE_SECONDS": "3",
        "WEBHOOK_TOTAL_TIMEOUT": "2.5",
        "WEBHOOK_SWEEP_SECONDS": "0.5",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "cpaas", "worker", "-Q", "webhooks", "-c", "2", "-n", f"{name}@%h",
         "-B", "-s", str(tmp_path / f"beat-{name}"), "--without-gossip", "--without-mingle", "--loglevel=WARNING"],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_delivery_loses_nothing_and_redelivers_the_same_webhook_id(
    app, make_endpoint, allow_loopback, tmp_path
):
    state = {"lock": threading.Lock(), "ids": [], "hung": None, "arrived": threading.Event(),
             "release": threading.Event()}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hanging)
    server.daemon_threads = True
    server.state = state
    threading.Thread(target=server.serve_forever, daemon=True).start()
    from cpaas.celery import app as celery_app

    celery_app.control.purge()
    cache.delete(KICK_KEY)
    make_endpoint(f"http://127.0.0.1:{server.server_address[1]}/hook")

    first = _start_worker(tmp_path, "doomed")
    second = None
    try:
        with transaction.atomic():
            events = [publish(app, "message.sent", {"id": f"msg_{n}"}, idempotency_key=f"k{n}", livemode=False)
                      for n in range(20)]
        assert state["arrived"].wait(60), "the first worker never sent anything"
        _kill(first)  # SIGKILL to the whole worker, pool children included, mid-request
        state["release"].set()

        second = _start_worker(tmp_path, "survivor")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if Delivery.objects.filter(status="succeeded").count() == len(events):
                break
            time.sleep(0.3)
    finally:
        _kill(first)
        if second is not None:
            _kill(second)
        server.shutdown()
        server.server_close()

    assert Delivery.objects.filter(status="succeeded").count() == len(events)
    seen = Counter(state["ids"])
    assert set(seen) == {event.id for event in events}
    assert seen[state["hung"]] >= 2  # the one in flight when the worker died came again, same webhook-id
