"""The per-message benchmark's driver: its wrk Lua script against a small echoing server, and the
accounting of callbacks (losses, doubles, redeliveries) that decides its verdicts."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.sms_per_message import parse_driver, per_message_lua, tally


class Echo(BaseHTTPRequestHandler):
    """Answers like POST /v1/messages: 201 with an id and the body sent; every fifth request 429."""

    protocol_version = "HTTP/1.1"
    count = 0
    lock = threading.Lock()

    def do_POST(self):
        sent = json.loads(self.rfile.read(int(self.headers["content-length"])))
        with self.lock:
            Echo.count += 1
            number = Echo.count
        assert self.headers["authorization"] == "Bearer sk_live_x"
        assert sent["status_callback"] == "http://127.0.0.1:9/hook"
        assert sent["status_callback_events"] == "final"
        status, answer = (429, {"error": {"code": "rate_limited"}}) if number % 5 == 0 else (
            201, {"id": f"msg_{number:06d}", "status": "queued", "body": sent["body"]})
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_lua_script_records_each_answer_with_its_request_time(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        script = tmp_path / "driver.lua"
        script.write_text(per_message_lua(secret="sk_live_x", callback="http://127.0.0.1:9/hook", outdir=tmp_path,
                                             callback_events="final"))
        subprocess.run(["wrk", "-t", "2", "-c", "4", "-d", "1s", "-s", str(script),
                        f"http://127.0.0.1:{server.server_port}"], check=True, capture_output=True)
    finally:
        server.shutdown()
    driven = parse_driver(line for path in tmp_path.glob("driver-*.txt") for line in path.read_text().splitlines())
    assert len(list(tmp_path.glob("driver-*.txt"))) == 2  # one file per wrk thread
    assert driven.accepted and driven.refused["429"] >= 1
    assert all(ident.startswith("msg_") for ident in driven.accepted)
    for requested, answered in driven.accepted.values():
        assert 0 <= answered - requested < 5  # wall-clock seconds, the request's stamp echoed back


def test_parse_driver_reads_answers_and_refusals():
    driven = parse_driver(["msg_a 1700000000000 1700000000250", "ERR 429 {\"error\": 1}", "ERR 503 x"])
    assert driven.accepted == {"msg_a": (1700000000.0, 1700000000.25)}
    assert driven.refused == {"429": 1, "503": 1}


def test_tally_counts_lost_doubled_redelivered_and_unknown():
    received = [
        ["message.sent", "msg_a", 1.0, "evt_1"],
        ["message.delivered", "msg_a", 2.0, "evt_2"],
        ["message.delivered", "msg_a", 2.5, "evt_2"],  # retried with the same webhook-id
        ["message.delivered", "msg_b", 3.0, "evt_3"],
        ["message.delivered", "msg_b", 3.1, "evt_4"],  # a second final under a new webhook-id
        ["message.delivered", "msg_z", 3.2, "evt_5"],  # wrk stopped before reading its answer
        ["bad-signature", "no", 3.3, ""],
    ]
    result = tally(received, {"msg_a": (0, 0), "msg_b": (0, 0), "msg_c": (0, 0)})
    assert result.lost == ["msg_c"]
    assert result.doubled == 2
    assert result.redelivered == 1
    assert result.unknown == 1
    assert result.bad_signatures == 1
    assert result.finals["msg_a"] == 2.0
    assert result.callbacks == 6
