"""``manage.py sip_worker`` as a real process: a phone calls an app's live number through a
Kamailio trunk; the worker takes the INVITE, fetches the number's voice_url from a loopback
tenant server through the egress, and the caller hears the document's Say.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from cpaas.messaging.inventory import number_assign
from cpaas.voice import conf, states
from cpaas.voice.models import Call
from cpaas.voice.runtime import live_config
from tests.support import kamailio, sipua
from tests.support.kamailio import kamailio_trunk
from tests.support.sipua import baresip_ua, wav_rms, wav_seconds

ROOT = Path(__file__).resolve().parents[2]
NUMBER = "+12025550199"
DOCUMENT = b"<Response><Say>Thank you for calling. Your call is important to us.</Say></Response>"

needs_peers = pytest.mark.skipif(
    bool(sipua.missing_binaries() + kamailio.missing_binaries()) or not shutil.which("espeak-ng"),
    reason="baresip, kamailio or espeak-ng not installed (make test installs them)")


def test_the_sip_worker_needs_a_sip_trunk(monkeypatch):
    monkeypatch.setattr(conf, "VOICE_LIVE_CONNECTOR", "sandbox")
    with pytest.raises(CommandError, match="VOICE_LIVE_CONNECTOR is not sip"):
        call_command("sip_worker")


def test_only_the_sip_worker_listens_on_the_worker_address(monkeypatch):
    monkeypatch.setattr(conf, "VOICE_LIVE_CONNECTOR", "sip")
    monkeypatch.setattr(conf, "VOICE_LIVE_CONNECTOR_CONFIG", {"host": "trunk.example", "port": 5080})
    monkeypatch.setattr(conf, "SIP_WORKER_ADDRESS", "127.0.0.1:5099")
    assert live_config(inbound=True) == {"host": "trunk.example", "port": 5080, "listen_host": "127.0.0.1",
                                         "listen_port": 5099}
    assert live_config(inbound=False) == {"host": "trunk.example", "port": 5080}


class Tenant(BaseHTTPRequestHandler):
    posted: list = []

    def do_POST(self):
        Tenant.posted.append((self.path, self.rfile.read(int(self.headers.get("content-length", 0)))))
        self.send_response(200)
        self.send_header("content-type", "application/xml")
        self.send_header("content-length", str(len(DOCUMENT)))
        self.end_headers()
        self.wfile.write(DOCUMENT)

    def log_message(self, *args):
        return None


@pytest.mark.sip
@needs_peers
@pytest.mark.django_db(transaction=True)
def test_a_call_through_the_trunk_reaches_the_sip_worker_process(app, tmp_path):
    Tenant.posted = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Tenant)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    number = number_assign(app=app, number=NUMBER, connector="sip", capabilities=["voice"])
    number.voice_url = f"http://127.0.0.1:{server.server_address[1]}/voice"
    number.save()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = connection.settings_dict
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "CPAAS_TESTING": "1",
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "REDIS_URL": settings.REDIS_URL, "EGRESS_ALLOWED_CIDRS": "127.0.0.0/8", "LOG_LEVEL": "WARNING",
           "VOICE_LIVE_CONNECTOR": "sip", "VOICE_LIVE_CONNECTOR_CONFIG": '{"plus": false}',
           "SIP_WORKER_ADDRESS": f"127.0.0.1:{port}"}
    worker = subprocess.Popen([sys.executable, "manage.py", "sip_worker"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "SIP worker listening" in worker.stdout.readline()
        with kamailio_trunk(tmp_path / "trunk", target=f"127.0.0.1:{port}") as trunk, \
                baresip_ua(tmp_path / "caller", name="caller") as phone:
            phone.dial(f"sip:{NUMBER[1:]}@{trunk.address}")
            phone.wait_event("CALL_ESTABLISHED", 15)
            phone.wait_event("CALL_CLOSED", 20)
            (heard,) = phone.received_audio()
        deadline = time.monotonic() + 10
        while Call.objects.filter(status__in=states.FINAL).count() < 1:
            assert time.monotonic() < deadline, list(Call.objects.values("status"))
            time.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            worker.kill()
        server.shutdown()
    call = Call.objects.get()
    assert (call.direction, call.status, call.to, call.mode) == ("inbound", "completed", NUMBER, "live")
    assert [path for path, _ in Tenant.posted] == ["/voice"]
    assert wav_seconds(heard) > 2 and wav_rms(heard) > 0.02
