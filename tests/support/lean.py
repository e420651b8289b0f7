"""``cpaas.asgi.application`` under a real uvicorn on a free port, in a thread of the test process,
and a way to send the API tests' ``POST /v1/messages`` through it (the lean send path) instead of
Django's test client: the same requests, the same assertions, the other path.

The server shares the test process (settings overrides and monkeypatches reach it) but not its
database transaction: tests that send through it run as transactional tests.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import uvicorn
from rest_framework.test import APIClient

from cpaas.asgi import application

LEAN_PATH = "/v1/messages"


class LeanServer:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(application, lifespan="on", log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True,
                                       name="lean-uvicorn")
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", headers={"Host": "testserver"},
                                   timeout=30)

    def stop(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(15)


class LeanResponse:
    """An httpx response that answers like the Django test client's (``r["Header"]``, ``.json()``)."""

    def __init__(self, response: httpx.Response) -> None:
        self.raw = response
        self.status_code = response.status_code
        self.content = response.content
        self.headers = response.headers

    def json(self):
        return json.loads(self.content)

    def __getitem__(self, name: str) -> str:
        return self.headers[name]

    def __contains__(self, name: str) -> bool:
        return name in self.headers

    def has_header(self, name: str) -> bool:
        return name in self.headers

    def get(self, name: str, default=None):
        return self.headers.get(name, default)


def _wire_headers(meta: dict) -> dict[str, str]:
    """``HTTP_IDEMPOTENCY_KEY=…`` (the test client's spelling) as ``Idempotency-Key: …``."""
    out = {}
    for name, value in meta.items():
        if name.startswith("HTTP_"):
            out[name[5:].replace("_", "-").title()] = str(value)
    return out


def lean_post(server: LeanServer, client: APIClient, path: str, data=None, format=None, content_type=None,
              **extra) -> LeanResponse:
    """What ``client.post(path, data, format=…, **extra)`` sends, sent over HTTP to the server."""
    body, content_type = client._encode_data(data, format, content_type)
    body = body.encode() if isinstance(body, str) else body
    headers = _wire_headers({**client._credentials, **extra})
    if content_type:
        headers["Content-Type"] = content_type
    return LeanResponse(server.client.post(path, content=body, headers=headers))


def route_sends_through(server: LeanServer, monkeypatch) -> None:
    """Every ``APIClient.post("/v1/messages", …)`` of the test goes through the lean path."""
    django_post = APIClient.post

    def post(self, path, data=None, format=None, content_type=None, follow=False, **extra):
        if path != LEAN_PATH:
            return django_post(self, path, data, format, content_type, follow, **extra)
        return lean_post(server, self, path, data, format, content_type, **extra)

    monkeypatch.setattr(APIClient, "post", post)
