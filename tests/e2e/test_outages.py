"""Fault test: with PostgreSQL or Redis unreachable the platform answers 503, never 500, never a pass.

A real uvicorn process serving cpaas.asgi is pointed at ports where nothing listens (a socket is
bound to get a free port, then closed). Every API call must answer 503 ``service_unavailable``,
``retryable: true`` with ``Retry-After``; a key that cannot be checked is never let through; the IM
gateway closes its sockets with 1013 (try again later), which clients treat as retryable.
"""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
import websockets
from django.conf import settings
from websockets.asyncio.client import connect

from cpaas.im import services as im_services
from cpaas.messaging.models import Message
from tests.im.conftest import terminate_other_connections
from tests.im.processes import GatewayProcess
from tests.im.test_chaos import _database_url

CALLS = [
    ("GET", "/v1/me", None),
    ("GET", "/v1/messages?limit=5", None),
    ("POST", "/v1/messages", {"to": "+14155550100", "body": "hello"}),
    ("GET", "/v1/messages/msg_01JDQ2Y6C3W8Z5N0V9T4KX7B1M", None),
    ("POST", "/v1/apps", {"name": "during the outage"}),
    ("GET", "/v1/calls", None),
    ("GET", "/v1/webhook-endpoints", None),
    ("GET", "/v1/usage?meter=sms_segments", None),
]


def dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def platform(transactional_db):
    started: list[GatewayProcess] = []

    def start(*, database_url: str, redis_url: str) -> GatewayProcess:
        # A lost PostgreSQL is noticed when the pool gives up waiting for a connection.
        process = GatewayProcess(database_url, redis_url, extra_env={"DB_POOL_TIMEOUT_SECONDS": "1"})
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
    terminate_other_connections()


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.request.method, response.request.url, response.text[:300])
    error = response.json()["error"]
    assert (error["code"], error["type"], error["retryable"]) == ("service_unavailable", "api_error", True)
    assert error["request_id"] == response.headers["Request-Id"]
    assert int(response.headers["Retry-After"]) > 0


def call_everything(process: GatewayProcess, secret: str) -> list[httpx.Response]:
    with httpx.Client(base_url=process.http, timeout=30,
                      headers={"Authorization": f"Bearer {secret}"}) as client:
        return [client.request(method, path, json=body) for method, path, body in CALLS]


async def close_code(url: str) -> tuple[int, str]:
    async with connect(url, open_timeout=15) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 15)
    return closed.value.rcvd.code, closed.value.rcvd.reason


def test_with_postgresql_unreachable_every_call_is_a_retryable_503(platform, secret):
    process = platform(database_url=f"postgres://postgres@127.0.0.1:{dead_port()}/cpaas",
                       redis_url=settings.REDIS_URL)
    for response in call_everything(process, secret):
        assert_unavailable(response)
    # A key that does not exist cannot be told apart from one that does: 503 too, never 200 or 401.
    for response in call_everything(process, "sk_test_" + "x" * 32):
        assert_unavailable(response)


def test_with_redis_unreachable_a_valid_key_is_not_let_through_unlimited(platform, secret):
    process = platform(database_url=_database_url(), redis_url=f"redis://127.0.0.1:{dead_port()}/0")
    for response in call_everything(process, secret):
        assert_unavailable(response)
    assert Message.objects.count() == 0


def test_with_both_unreachable_every_call_is_a_retryable_503(platform, secret):
    process = platform(database_url=f"postgres://postgres@127.0.0.1:{dead_port()}/cpaas",
                       redis_url=f"redis://127.0.0.1:{dead_port()}/0")
    for response in call_everything(process, secret):
        assert_unavailable(response)


def test_the_im_gateway_says_try_again_later_when_postgresql_is_down(platform, app):
    token = im_services.token_create(user=im_services.user_create(app=app, mode="test", user_id="alice")).secret
    process = platform(database_url=f"postgres://postgres@127.0.0.1:{dead_port()}/cpaas",
                       redis_url=settings.REDIS_URL)
    code, reason = asyncio.run(close_code(f"{process.url}?token={token}"))
    assert code == 1013 and "unavailable" in reason


def test_the_im_gateway_says_try_again_later_when_redis_is_down(platform, app):
    token = im_services.token_create(user=im_services.user_create(app=app, mode="test", user_id="alice")).secret
    process = platform(database_url=_database_url(), redis_url=f"redis://127.0.0.1:{dead_port()}/0")
    code, _ = asyncio.run(close_code(f"{process.url}?token={token}"))
    assert code == 1013
