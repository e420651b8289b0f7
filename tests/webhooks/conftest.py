"""A real local receiver (a threaded HTTP server) and a dispatcher bound to it."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from webhooks.dispatch import Breaker, Dispatcher
from webhooks.sender import Sender
from webhooks.services import endpoint_create


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed-ACK stall

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.server.receiver.requests.append(
            {"path": parts.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
        )
        path = parts.path
        if path.startswith("/sleep/"):
            time.sleep(float(path.rsplit("/", 1)[1]))
            return self._answer(200, b"slept")
        if path.startswith("/status/"):
            extra = {"Retry-After": query["retry_after"]} if "retry_after" in query else {}
            return self._answer(int(path.rsplit("/", 1)[1]), b"status body", extra)
        if path == "/redirect":
            return self._answer(302, b"", {"Location": "http://169.254.169.254/latest/meta-data/"})
        if path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(50 * 1024 * 1024))
            self.end_headers()
            chunk = b"x" * 65536
            try:
                for _ in range(800):
                    self.wfile.write(chunk)
            except OSError:
                pass
            self.server.receiver.big_closed = True
            self.close_connection = True
            return None
        if path == "/close":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"partial")
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return None
        return self._answer(200, b"ok")

    def _answer(self, status, body, headers=None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:  # the client gave up (a timeout test)
            self.close_connection = True


class Receiver:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.big_closed = False
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.receiver = self
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/ok") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()



@pytest.fixture(autouse=True)
def _fresh_kick_throttle(monkeypatch):
    # dispatch_kick skips a kick within half a second of this process's last one; every test
    # starts as a fresh process would.
    from webhooks import services

    monkeypatch.setattr(services, "_kicked_at", -1e9)


@pytest.fixture
def receiver(allow_loopback):
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def dispatcher():
    sender = Sender()
    yield Dispatcher(sender=sender, breaker=Breaker())
    sender.close()


def run(dispatcher: Dispatcher) -> int:
    """Dispatch everything due now and wait for the answers."""
    return dispatcher.run(run_seconds=30, idle_exit=0)


@pytest.fixture
def make_endpoint(app):
    def make(url: str, **kwargs):
        return endpoint_create(app_id=app.id, mode="test", url=url, **kwargs)

    return make
