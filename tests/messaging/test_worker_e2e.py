"""Whole flows with a real Celery worker process and the test SMSC process.

API → worker (sms and webhooks queues) → SMPP submit → deliver_sm receipt → status callback POSTed
from the callback outbox, signed, and
verified with the standardwebhooks library; and a worker killed between submit and status update.
"""

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings
from standardwebhooks import Webhook

from cpaas.messaging import infra
from cpaas.messaging.connectors import connector_save
from cpaas.messaging.kicks import DISPATCH_FLAG
from cpaas.messaging.models import Message, Route
from cpaas.tenants.keys import api_key_create
from tests.carriers.smsc import Smsc
from tests.conftest import client_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


class Worker:
    def __init__(self, app="cpaas", **env):
        self.app = app
        db = settings.DATABASES["default"]
        url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        self.env = {**os.environ, "DATABASE_URL": url, "CPAAS_TESTING": "1", "LOG_LEVEL": "WARNING",
                    "DJANGO_SETTINGS_MODULE": "cpaas.settings",
                    "EGRESS_ALLOWED_CIDRS": "127.0.0.0/8",  # status callbacks to the loopback receiver
                    **env}
        self.process = None

    def start(self):
        subprocess.run([sys.executable, "-m", "celery", "-A", "cpaas", "purge", "-f", "-Q", "sms,webhooks"],
                       cwd=ROOT, env=self.env, capture_output=True, timeout=60)
        # A worker the previous test SIGKILLed may have died holding the dispatch run's kick flag
        # (it lapses within RUN_HOLD_SECONDS; beat's sweep is the net, and beat is not running here).
        infra.flag_clear(DISPATCH_FLAG)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", self.app, "worker", "-Q", "sms,webhooks", "-c", "1",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"sms-test-{os.getpid()}@%h"],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        return self

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, 9)
            self.process.wait(10)


class Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        Receiver.received.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(allow_loopback):
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


@pytest.fixture
def smsc(tmp_path):
    server = Smsc(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def live(app, smsc):
    Route.objects.create(prefix="+1", connector=connector_save(id="smsc1", kind="smpp", config=smsc.config(),
                                                               throughput=500)[0])
    client = client_for(api_key_create(app=app, name="live", mode="live").secret)
    written = client.post("/v1/sms/settings", {"allowed_countries": ["US"]}, format="json")
    assert written.status_code == 200
    client.callback_secret = written.json()["callback_secret"]  # shown by the first write only
    return client


def test_a_message_goes_through_the_worker_and_smpp_and_its_signed_callbacks_arrive(live, smsc, receiver):
    worker = Worker().start()
    try:
        secret = live.callback_secret
        sent = live.post("/v1/messages", {"to": "+12025550123", "from": "Acme", "body": "Hello over SMPP",
                                          "status_callback": receiver}, format="json")
        assert sent.status_code == 201, sent.json()
        message_id = sent.json()["id"]
        assert wait_for(lambda: Message.objects.get(pk=message_id).status == "delivered")
        assert wait_for(lambda: len(Receiver.received) >= 2)
    finally:
        worker.stop()
    assert len(smsc.submits()) == 1
    hook = Webhook(secret)
    payloads = [hook.verify(body, headers) for headers, body in Receiver.received]
    by_type = {p["type"]: p for p in payloads}
    assert set(by_type) == {"message.sent", "message.delivered"}
    assert by_type["message.delivered"]["data"]["id"] == message_id
    assert by_type["message.delivered"]["data"]["sequence"] > by_type["message.sent"]["data"]["sequence"]


def test_a_worker_killed_between_submit_and_status_update_neither_loses_nor_resends(live, smsc):
    from cpaas.messaging.sweep import sweep

    # The receipt comes a second late, so it outlives the killed bind and is stored and forwarded
    # by the SMSC. (A receipt that reaches a process in its last ~50 ms, before the flusher applies
    # it, is lost with the process: the message then stays `sent`. See docs/carriers.md.)
    smsc.stop()
    smsc.start(dlr_delay=1)

    crashing = Worker("tests.messaging.crash_after_submit", SMS_LEASE_SECONDS="1").start()
    try:
        message_id = live.post("/v1/messages", {"to": "+12025550123", "from": "Acme", "body": "once"},
                               format="json").json()["id"]
        assert wait_for(lambda: len(smsc.submits()) == 1)
        time.sleep(1.5)
    finally:
        crashing.stop()
    message = Message.objects.get(pk=message_id)
    assert message.status == "sending"  # the worker died before recording the outcome
    assert message.carrier_message_id == ""
    healthy = Worker().start()
    try:
        # beat's sweeper, run here directly: it finds the expired lease and reads the journal
        assert wait_for(lambda: sweep()["recovered_sent"] == 1 or
                        Message.objects.get(pk=message_id).status != "sending", timeout=20)
        assert wait_for(lambda: Message.objects.get(pk=message_id).status == "delivered", timeout=30)
    finally:
        healthy.stop()
    message.refresh_from_db()
    assert message.carrier_message_id == smsc.submits()[0]["id"]
    assert len(smsc.submits()) == 1  # never submitted twice
    assert json.loads(json.dumps(message.tried_connectors)) == ["smsc1"]
