"""Failed authentications are throttled per client address, before any database lookup."""

import uuid

import pytest

from cpaas.core.ratelimit import gate
from cpaas.tenants.keys import api_key_create, api_key_revoke
from tests.conftest import client_for


@pytest.fixture
def address():
    """A fresh client address per test, so counters of other tests never interfere."""
    n = uuid.uuid4().int
    return f"198.51.{n % 250}.{(n >> 8) % 250 + 1}"


@pytest.fixture
def few_failures(settings):
    settings.AUTH_FAILURES_PER_WINDOW = 3
    settings.AUTH_FAILURE_WINDOW_SECONDS = 30


def guess(address, secret=None):
    return client_for(secret or "sk_test_" + uuid.uuid4().hex[:32]).get("/v1/me", REMOTE_ADDR=address)


def test_unknown_keys_from_one_address_are_throttled_before_any_database_lookup(
        db, few_failures, address, django_assert_num_queries):
    assert [guess(address).status_code for _ in range(3)] == [401, 401, 401]
    with django_assert_num_queries(0):
        refused = guess(address)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert (error["code"], error["retryable"]) == ("rate_limited", True)
    assert 1 <= int(refused["Retry-After"]) <= 30


def test_another_address_is_not_throttled(db, few_failures, address):
    for _ in range(4):
        guess(address)
    assert guess("203.0.113.9").status_code == 401


def test_revoked_keys_count_as_failures(app, few_failures, address):
    created = api_key_create(app=app, name="doomed")
    api_key_revoke(key=created.key)
    statuses = [guess(address, created.secret).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]


def test_a_valid_key_already_in_use_keeps_working_from_a_throttled_address(api, app, few_failures, address):
    assert api.get("/v1/me", REMOTE_ADDR=address).status_code == 200  # resolved and cached
    for _ in range(4):
        guess(address)
    assert api.get("/v1/me", REMOTE_ADDR=address).status_code == 200


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(db, few_failures, address):
    for n in range(4):  # an attacker rotating a forged header still counts as one address
        client_for("sk_test_" + uuid.uuid4().hex[:32]).get(
            "/v1/me", REMOTE_ADDR=address, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    assert guess(address).status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(db, few_failures, settings, address):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    def via_proxy(forwarded):
        return client_for("sk_test_" + uuid.uuid4().hex[:32]).get(
            "/v1/me", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR=forwarded)

    for _ in range(3):
        via_proxy(f"192.0.2.77, {address}, 10.9.9.9")  # the left-most entry is the client's to forge
    assert via_proxy(f"203.0.113.1, {address}").status_code == 429
    assert via_proxy("203.0.113.50").status_code == 401  # another client behind the same proxy


def test_the_gate_blocks_an_address_for_the_rest_of_the_window(address):
    limiter = gate()
    for _ in range(2):
        assert not limiter.auth_throttle(address, 2).blocked
        limiter.auth_failed(address, 2, 30)
    blocked = limiter.auth_throttle(address, 2)
    assert blocked.blocked and 1 <= blocked.retry_after <= 30
    limiter.auth_reset(address)
    assert not limiter.auth_throttle(address, 2).blocked
