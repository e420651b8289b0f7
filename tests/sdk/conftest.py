"""The SDK against the real platform: pytest-django's live server (the real Django app on a real
socket, real PostgreSQL and Redis), a test key of a freshly provisioned tenant."""

import pytest

from cpaas_sdk import AsyncClient, Client, RetryPolicy

# Tests must not sleep through real backoff: retries are exercised in test_retries.py with their own policy.
FAST = RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.05)


@pytest.fixture
def live(live_server, transactional_db):
    return live_server


@pytest.fixture
def client(live, provisioned):
    with Client(provisioned.test_key.secret, base_url=live.url, retry=FAST) as sdk:
        yield sdk


@pytest.fixture
def live_client(live, live_secret):
    with Client(live_secret, base_url=live.url, retry=FAST) as sdk:
        yield sdk


@pytest.fixture
def async_client_factory(live, provisioned):
    def make() -> AsyncClient:
        return AsyncClient(provisioned.test_key.secret, base_url=live.url, retry=FAST)
    return make
