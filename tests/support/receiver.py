"""A real loopback HTTP receiver for tests of the egress callers: records every POST (and GET),
answers per path."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Receiver:
    base: str
    answers: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    hang: threading.Event | None = None  # set: the first request waits on it (a receiver stuck)
    bodies: dict[str, bytes] = field(default_factory=dict)  # answer bodies per path
    ports: list[int] = field(default_factory=list)  # the client port of each request (connection reuse)
    drop: int = 0  # the next this many requests are read whole, then their connection closed unanswered


    def answer(self, path: str, status: int, **headers: str) -> None:
        self.answers[path] = (status, headers)

    def posted(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        return [(headers, body) for p, headers, body in self.received if p == path]


def start_receiver() -> tuple[Receiver, ThreadingHTTPServer]:
    receiver = Receiver(base="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as tenants' servers do

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            receiver.received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            receiver.ports.append(self.client_address[1])
            if receiver.drop:
                receiver.drop -= 1
                self.close_connection = True
                return
            if receiver.hang is not None and len(receiver.received) == 1:
                receiver.hang.wait(30)
                self.close_connection = True
                return
            status, headers = receiver.answers.get(self.path, (200, {}))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            answer = receiver.bodies.get(self.path, b"")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST  # a call's Play fetches its audio

        def log_message(self, *args):
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver.base = f"http://127.0.0.1:{server.server_address[1]}"
    return receiver, server
