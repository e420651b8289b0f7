"""The gateway's token check shares the failed-authentication throttle of API keys (decision 0891)."""

import asyncio

import pytest
import websockets
from websockets.asyncio.client import connect

from cpaas.core.ratelimit import gate
from cpaas.im import services

ADDRESS = "127.0.0.1"  # the test client's address as the gateway sees it


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def _outcome(url: str):
    """("closed", code) when the gateway accepted and closed, ("open", None) when a session
    started, ("http", status, headers, body) when it refused the upgrade."""
    try:
        async with connect(url) as ws:
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed as closed:
                return ("closed", closed.rcvd.code)
            return ("open", None)
    except websockets.InvalidStatus as refused:
        response = refused.response
        return ("http", response.status_code, response.headers, response.body)


@pytest.fixture
def throttle(settings):
    settings.AUTH_FAILURES_PER_WINDOW = 3
    settings.AUTH_FAILURE_WINDOW_SECONDS = 60
    gate().auth_reset(ADDRESS)
    yield
    gate().auth_reset(ADDRESS)


@pytest.fixture
def lookups(monkeypatch):
    """Counts the token lookups the gateway makes (the real function runs)."""
    calls = []
    real = services.token_authenticate

    def counted(secret):
        calls.append(secret)
        return real(secret)

    monkeypatch.setattr(services, "token_authenticate", counted)
    return calls


def test_after_too_many_bad_tokens_the_handshake_gets_429_without_a_lookup(gateway, throttle, lookups, token_for):
    good = token_for("alice")
    for n in range(3):
        assert run(_outcome(f"{gateway.url}?token=imtk_guess{n}")) == ("closed", 4001)
    assert len(lookups) == 3

    for secret in ("imtk_guess4", good):  # blocked: even a valid token waits out the window
        kind, status, headers, body = run(_outcome(f"{gateway.url}?token={secret}"))
        assert (kind, status) == ("http", 429)
        assert 0 < int(headers["Retry-After"]) <= 60
        assert b'"code": "rate_limited"' in body and b'"retryable": true' in body
    assert len(lookups) == 3  # no database lookup while blocked


def test_valid_tokens_do_not_count_towards_the_throttle(gateway, throttle, lookups, token_for):
    good = token_for("alice")
    for n in range(2):
        assert run(_outcome(f"{gateway.url}?token=imtk_guess{n}")) == ("closed", 4001)
    for _ in range(3):
        assert run(_outcome(f"{gateway.url}?token={good}")) == ("open", None)
    assert run(_outcome(f"{gateway.url}?token={good}")) == ("open", None)


def test_bad_api_keys_and_bad_im_tokens_share_one_count_per_address(gateway, throttle, token_for):
    from rest_framework.test import APIClient

    good = token_for("alice")
    client = APIClient(REMOTE_ADDR=ADDRESS)
    for _ in range(2):
        assert client.get("/v1/im/users", HTTP_AUTHORIZATION="Bearer sk_test_nope").status_code == 401
    assert run(_outcome(f"{gateway.url}?token=imtk_guess")) == ("closed", 4001)
    kind, status, *_ = run(_outcome(f"{gateway.url}?token={good}"))
    assert (kind, status) == ("http", 429)
