"""Retries against a tiny real HTTP server that answers from a script: 503 then 200, 429 with
Retry-After, a dropped connection, a non-retryable 400. No part of the SDK is replaced."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cpaas_sdk import ApiConnectionError, Client, InvalidRequest, RateLimited, RetryPolicy, ServiceUnavailable

FAST = RetryPolicy(max_retries=3, initial_delay=0.01, max_delay=0.02)


def envelope(code: str, retryable: bool) -> dict:
    return {"error": {"type": "api_error", "code": code, "message": code.replace("_", " "), "param": None,
                      "request_id": "req_script", "retryable": retryable, "doc_url": "/docs/errors"}}


class Script:
    """Answers in order: each is (status, headers, body) or "drop" (close without answering)."""

    def __init__(self, *answers) -> None:
        self.answers = list(answers)
        self.seen: list[dict] = []
        self.times: list[float] = []
        script = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                script.seen.append({"method": self.command, "path": self.path, "body": body,
                                    "headers": {k.lower(): v for k, v in self.headers.items()}})
                script.times.append(time.monotonic())
                answer = script.answers.pop(0) if script.answers else (200, {}, {"ok": True})
                if answer == "drop":
                    self.close_connection = True
                    return
                status, headers, payload = answer
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PATCH = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def script():
    servers = []

    def make(*answers) -> Script:
        servers.append(Script(*answers))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def test_a_503_then_200_is_retried_with_the_same_idempotency_key(script):
    server = script((503, {}, envelope("service_unavailable", True)), (201, {}, {"id": "msg_1"}))
    sent = Client("sk_test_x", base_url=server.url, retry=FAST).messages.send(to="+15005550000", body="hi")
    assert sent.id == "msg_1"
    first, second = server.seen
    assert first["headers"]["idempotency-key"] == second["headers"]["idempotency-key"]
    assert first["body"] == second["body"]


def test_a_given_idempotency_key_is_sent_and_reused(script):
    server = script((500, {}, envelope("internal_error", True)), (201, {}, {"id": "msg_1"}))
    Client("sk_test_x", base_url=server.url, retry=FAST).messages.send(to="+1", body="x", idempotency_key="order-42")
    assert [s["headers"]["idempotency-key"] for s in server.seen] == ["order-42", "order-42"]


def test_two_sends_get_two_keys(script):
    server = script()
    client = Client("sk_test_x", base_url=server.url, retry=FAST)
    client.messages.send(to="+1", body="a")
    client.messages.send(to="+1", body="a")
    assert server.seen[0]["headers"]["idempotency-key"] != server.seen[1]["headers"]["idempotency-key"]


def test_a_429_waits_what_retry_after_says(script):
    server = script((429, {"Retry-After": "1"}, envelope("rate_limited", True)), (200, {}, {"object": "identity"}))
    assert Client("sk_test_x", base_url=server.url, retry=FAST).me.retrieve().object == "identity"
    assert server.times[1] - server.times[0] >= 0.95
    assert "idempotency-key" not in server.seen[0]["headers"]  # only POSTs carry one


def test_a_retry_after_longer_than_the_cap_is_raised_not_waited(script):
    server = script((429, {"Retry-After": "3600"}, envelope("rate_limited", True)))
    with pytest.raises(RateLimited) as caught:
        Client("sk_test_x", base_url=server.url, retry=FAST).me.retrieve()
    assert caught.value.retry_after == 3600
    assert len(server.seen) == 1


def test_a_dropped_connection_is_retried(script):
    server = script("drop", (201, {}, {"id": "msg_1"}))
    assert Client("sk_test_x", base_url=server.url, retry=FAST).messages.send(to="+1", body="x").id == "msg_1"
    assert server.seen[0]["headers"]["idempotency-key"] == server.seen[1]["headers"]["idempotency-key"]


def test_retries_give_up_after_max_retries_with_the_typed_error(script):
    server = script(*[(503, {"Retry-After": "0"}, envelope("service_unavailable", True))] * 5)
    with pytest.raises(ServiceUnavailable) as caught:
        Client("sk_test_x", base_url=server.url, retry=FAST).me.retrieve()
    assert (caught.value.status, caught.value.retryable, caught.value.request_id) == (503, True, "req_script")
    assert len(server.seen) == 1 + FAST.max_retries


def test_an_invalid_request_is_not_retried(script):
    server = script((400, {}, envelope("invalid_phone_number", False)))
    with pytest.raises(InvalidRequest):
        Client("sk_test_x", base_url=server.url, retry=FAST).messages.send(to="x", body="x")
    assert len(server.seen) == 1


def test_a_request_still_running_409_is_retried_because_the_api_marks_it_retryable(script):
    server = script((409, {}, envelope("idempotency_in_progress", True)), (201, {}, {"id": "msg_1"}))
    assert Client("sk_test_x", base_url=server.url, retry=FAST).messages.send(to="+1", body="x").id == "msg_1"


def test_an_unreachable_api_is_a_connection_error():
    with pytest.raises(ApiConnectionError):
        Client("sk_test_x", base_url="http://127.0.0.1:9", retry=FAST).me.retrieve()


def test_backoff_grows_and_is_jittered():
    policy = RetryPolicy(max_retries=5, initial_delay=1, max_delay=8)
    for attempt, ceiling in enumerate([1, 2, 4, 8, 8]):
        assert ceiling / 2 <= policy.delay(attempt, None) <= ceiling
    assert policy.delay(5, None) is None
