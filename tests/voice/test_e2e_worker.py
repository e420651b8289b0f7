"""End to end: API → voice queue → a real Celery worker's engine → sandbox network → status webhooks.

A real worker process runs the engine (sandbox network 20 times faster than real time); a real local
HTTP server plays the tenant: it serves the call-control documents and receives the signed
status callbacks. Nothing is mocked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from standardwebhooks.webhooks import Webhook

from billing.models import UsageEvent
from cpaas.voice import conf, states, tasks
from cpaas.voice.models import Call, CallLeg, VoiceEngine
from cpaas.voice.signing import signing_secret
from webhooks.models import Event

ROOT = Path(__file__).resolve().parents[2]
DOCS = {
    "/voice": '<Response><Gather numDigits="3" action="/menu"><Say>Enter your code</Say></Gather></Response>',
    "/menu": "<Response><Say>Thank you</Say><Hangup/></Response>",
}


class Tenant(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
        Tenant.received.append((self.path, body, {k.lower(): v for k, v in self.headers.items()}))
        document = DOCS.get(self.path)
        self.send_response(200 if document or self.path == "/status" else 404)
        self.send_header("content-type", "application/xml")
        self.end_headers()
        self.wfile.write((document or "").encode())

    def log_message(self, *args):
        return None


@pytest.fixture
def tenant_server():
    Tenant.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Tenant)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def worker_env():
    return {}


@pytest.fixture
def worker(transactional_db, tmp_path, worker_env):
    redis.Redis.from_url(settings.REDIS_URL).delete("voice", "webhooks")
    db = connection.settings_dict
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "CPAAS_TESTING": "1",
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "REDIS_URL": settings.REDIS_URL, "VOICE_SANDBOX_SPEED": "20", "EGRESS_ALLOWED_CIDRS": "127.0.0.0/8",
           "LOG_LEVEL": "WARNING",
           "VOICE_RECORDINGS_STORAGE_OPTIONS": json.dumps({"location": str(tmp_path)}), **worker_env}
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "cpaas", "worker", "-Q", "voice,webhooks", "-P", "solo",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    yield process
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def wait_final(call_ids, seconds=40):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if set(Call.objects.filter(pk__in=call_ids).values_list("status", flat=True)) <= states.FINAL:
            return
        time.sleep(0.2)
    raise AssertionError(f"calls not final: {list(Call.objects.filter(pk__in=call_ids).values('id', 'status'))}")


def answered_long_call(api) -> str:
    """A call that pauses for ten minutes, once the worker's engine has answered it."""
    call_id = api.post("/v1/calls", {"to": "+12025550123", "from": "+15005559000",
                                     "instructions": '<Response><Pause length="600"/></Response>'},
                       format="json").json()["id"]
    deadline = time.monotonic() + 30
    while Call.objects.get(pk=call_id).status != states.IN_PROGRESS:
        assert time.monotonic() < deadline, "the call never got answered"
        time.sleep(0.1)
    return call_id


@pytest.mark.worker
def test_calls_run_end_to_end_through_a_worker_with_signed_status_webhooks(api, app, worker, tenant_server):
    call = api.post("/v1/calls", {
        "to": "+15005552417", "from": "+15005559000", "url": f"{tenant_server}/voice",
        "status_callback": f"{tenant_server}/status"}, format="json").json()
    callback = api.post("/v1/calls/callback", {
        "party_a": "+12025550101", "party_b": "+15005551010", "caller_id_a": "+15005559000",
        "caller_id_b": "+12025550101", "status_callback": f"{tenant_server}/status"}, format="json").json()
    wait_final([call["id"], callback["id"]])

    done = Call.objects.get(pk=call["id"])
    assert (done.status, done.hangup_cause, done.error_code) == ("completed", "hangup_verb", "")
    menu = [json.loads(body) for path, body, _ in Tenant.received if path == "/menu"]
    assert [params["digits"] for params in menu] == ["417"]

    bridged = Call.objects.get(pk=callback["id"])
    a, b = CallLeg.objects.filter(call=bridged).order_by("position")
    assert (bridged.status, bridged.hangup_cause) == ("completed", "party_b_hangup")
    assert (b.duration_seconds, b.hangup_by) == (10, "remote")
    assert a.answered_at is not None and b.from_number == a.to

    # Status callbacks (the webhooks worker's outbox): every transition of both calls, signed
    # with the app's voice secret.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len([r for r in Tenant.received if r[0] == "/status"]) < 8:
        time.sleep(0.1)
    status_posts = [(body, headers) for path, body, headers in Tenant.received if path == "/status"]
    secret = Webhook(signing_secret(app.id, "test"))
    status_posts = [(secret.verify(body, headers)["data"], headers) for body, headers in status_posts]
    by_call = {cid: [p["event"] for p, _ in status_posts if p["call_id"] == cid] for cid in (done.id, bridged.id)}
    assert sorted(by_call[done.id]) == sorted(["initiated", "ringing", "answered", "completed"])
    assert sorted(by_call[bridged.id]) == sorted(["initiated", "ringing", "answered", "completed"])

    published = set(Event.objects.filter(app=app).values_list("type", flat=True))
    assert {"call.initiated", "call.ringing", "call.answered", "call.completed", "call.leg.completed"} <= published
    assert UsageEvent.objects.filter(app=app, meter="voice_seconds").count() == 3


@pytest.mark.worker
@pytest.mark.parametrize("worker_env", [{"VOICE_ENGINE_HEARTBEAT_SECONDS": "0.5"}])
def test_a_call_whose_worker_is_killed_ends_engine_lost_once_the_engine_lease_expires(api, worker, monkeypatch):
    monkeypatch.setattr(conf, "VOICE_ENGINE_LEASE_SECONDS", 3)
    call_id = answered_long_call(api)
    engine = Call.objects.get(pk=call_id).claimed_by
    time.sleep(3.5)  # longer than the lease: only renewals keep the call alive
    assert VoiceEngine.objects.filter(pk=engine).exists()
    assert tasks.call_sweep()["failed"] == 0

    worker.kill()  # SIGKILL: no shutdown code runs, as in an OOM kill or a lost machine
    worker.wait(10)
    time.sleep(3.5)
    assert tasks.call_sweep()["failed"] == 1
    call = Call.objects.get(pk=call_id)
    assert (call.status, call.hangup_cause, call.error_code) == ("failed", "engine_lost", "engine_lost")
    assert Event.objects.filter(type="call.completed", data__call_id=call_id, data__status="failed").exists()


@pytest.mark.worker
def test_a_hang_up_reaches_the_engine_of_another_process_through_the_call_row(api, worker):
    call_id = answered_long_call(api)
    assert api.post(f"/v1/calls/{call_id}", {"status": "completed"}, format="json").status_code == 200
    wait_final([call_id], seconds=3)
    call = Call.objects.get(pk=call_id)
    assert (call.status, call.hangup_cause, call.pending_control) == ("completed", "api_hangup", None)
