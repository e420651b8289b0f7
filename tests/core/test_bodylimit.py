"""Bodies over MAX_REQUEST_BYTES are refused with 413 however they are framed, before they are read.

Against a real uvicorn process serving cpaas.asgi, over a raw socket, because the point is what the
server reads: a chunked body has no Content-Length for a middleware to check, and Django's ASGI
handler reads the whole body before any middleware runs.
"""

from __future__ import annotations

import io
import json
import socket
import threading

import pytest
from django.conf import settings

from cpaas.core.bodylimit import wsgi_body_limit
from tests.im.conftest import terminate_other_connections
from tests.im.processes import GatewayProcess
from tests.im.test_chaos import _database_url

MIB = 1024 * 1024


@pytest.fixture
def server(transactional_db):
    process = GatewayProcess(_database_url(), settings.REDIS_URL)
    process.start()
    yield process
    process.stop()
    terminate_other_connections()


def read_response(sock: socket.socket, timeout: float = 15.0) -> tuple[int, dict[str, str], bytes]:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def request_head(path: str, secret: str, framing: str) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {secret}\r\n"
            f"Content-Type: application/json\r\n{framing}\r\n").encode()


def test_a_chunked_body_over_the_limit_is_a_413_before_it_is_all_sent(server, secret):
    sent = 0
    answered = threading.Event()

    def stream_twenty_mebibytes(sock: socket.socket) -> None:
        nonlocal sent
        chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"x" * 64 * 1024)
        try:
            while sent < 20 * MIB and not answered.is_set():
                sock.sendall(chunk)
                sent += 64 * 1024
        except OSError:  # the server closed the connection: exactly what should happen
            pass

    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(request_head("/v1/apps", secret, "Transfer-Encoding: chunked\r\n"))
        writer = threading.Thread(target=stream_twenty_mebibytes, args=(sock,), daemon=True)
        writer.start()
        status, headers, body = read_response(sock)
        answered.set()
        writer.join(10)
    assert status == 413
    error = json.loads(body)["error"]
    assert error["code"] == "request_too_large"
    assert error["request_id"] == headers["request-id"]
    assert headers["connection"] == "close"
    # The final zero-length chunk was never sent: the answer came while the body was incomplete,
    # and the client got nowhere near 20 MiB (socket buffers hold a few MiB at most).
    assert sent < 20 * MIB


def test_a_declared_length_over_the_limit_is_a_413_without_reading_the_body(server, secret):
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(request_head("/v1/apps", secret, f"Content-Length: {20 * MIB}\r\n"))
        status, _, body = read_response(sock, timeout=10)  # nothing of the body was sent
    assert status == 413
    assert json.loads(body)["error"]["code"] == "request_too_large"


def test_a_chunked_body_within_the_limit_is_served(server, secret):
    payload = json.dumps({"name": "Chunked"}).encode()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(request_head("/v1/apps", secret, "Transfer-Encoding: chunked\r\n"))
        sock.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload))
        status, _, body = read_response(sock)
    assert status == 201, body
    assert json.loads(body)["name"] == "Chunked"


class CountingStream(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.taken = 0

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        self.taken += len(data)
        return data


def call_wsgi(environ: dict) -> tuple[str, bytes]:
    seen = {}

    def inner(env, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [env["wsgi.input"].read(int(env.get("CONTENT_LENGTH") or 0))]

    def start_response(status, headers):
        seen["status"] = status

    body = b"".join(wsgi_body_limit(inner)(environ, start_response))
    return seen["status"], body


def test_the_wsgi_wrapper_stops_reading_a_chunked_body_at_the_limit(settings):
    stream = CountingStream(b"x" * (20 * MIB))
    status, body = call_wsgi({"PATH_INFO": "/v1/apps", "HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": stream})
    assert status.startswith("413")
    assert json.loads(body)["error"]["code"] == "request_too_large"
    assert stream.taken == settings.MAX_REQUEST_BYTES + 1


def test_the_wsgi_wrapper_hands_a_small_chunked_body_on_with_its_length():
    status, body = call_wsgi({"PATH_INFO": "/v1/apps", "HTTP_TRANSFER_ENCODING": "chunked",
                              "wsgi.input": io.BytesIO(b'{"name": "x"}')})
    assert (status, body) == ("200 OK", b'{"name": "x"}')


def test_the_wsgi_wrapper_refuses_a_declared_length_over_the_limit_unread():
    stream = CountingStream(b"")
    status, _ = call_wsgi({"PATH_INFO": "/v1/apps", "CONTENT_LENGTH": str(20 * MIB), "wsgi.input": stream})
    assert status.startswith("413") and stream.taken == 0
