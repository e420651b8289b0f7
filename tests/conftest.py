"""Shared fixtures: our tenant and another tenant, each with an app and a test key."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from cpaas.core.egress import conf as egress_conf
from cpaas.core.egress import ssrf
from cpaas.core.ratelimit import gate
from cpaas.tenants.keys import api_key_create, principal_cache
from cpaas.tenants.services import tenant_provision
from tests.support.lean import LeanServer, route_sends_through
from tests.support.money import reset_money_state
from tests.support.receiver import Receiver, start_receiver


def pytest_collection_modifyitems(items):
    """A test run through the lean send path is a transactional test: the server's connections
    must see what the test wrote, and the test what they wrote."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("send_path") == "lean":
            item.add_marker(pytest.mark.django_db(transaction=True))


@pytest.fixture(scope="session")
def lean_server(django_db_setup, django_db_blocker) -> Iterator[LeanServer]:
    """cpaas.asgi.application under uvicorn, for the lean send path (tests/support/lean.py)."""
    server = LeanServer()
    yield server
    with django_db_blocker.unblock():
        server.stop()


@pytest.fixture(params=["django", "lean"])
def send_path(request, monkeypatch) -> str:
    """Run the test twice: its ``POST /v1/messages`` through Django's view, then through the lean
    ASGI path of production (cpaas/messaging/accept/), with the same assertions."""
    if request.param == "lean":
        route_sends_through(request.getfixturevalue("lean_server"), monkeypatch)
    return request.param


@pytest.fixture(autouse=True)
def _fresh_caches():
    principal_cache.clear()
    ssrf.forget_lookups()
    gate().auth_reset("127.0.0.1")  # the test client's address: failed logins of one test never block the next
    yield
    principal_cache.clear()


@pytest.fixture
def allow_loopback(monkeypatch):
    """The operator's egress allow-list covers loopback (local receivers in tests)."""
    monkeypatch.setattr(egress_conf, "ALLOWED_CIDRS", ["127.0.0.0/8", "::1/128"])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A loopback HTTP receiver (tests/support/receiver.py), stopped after the test (a hung request
    released first). tests/webhooks has a receiver of its own under the same name."""
    receiver, server = start_receiver()
    yield receiver
    if receiver.hang is not None:
        receiver.hang.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def money_state() -> Iterator[None]:
    """Billing's Redis state and gate caches reset before and after the test (holds are per app)."""
    reset_money_state()
    yield
    reset_money_state()


@pytest.fixture
def no_allow_list(monkeypatch):
    """A server deployment: the egress allow-list is empty."""
    monkeypatch.setattr(egress_conf, "ALLOWED_CIDRS", [])


@pytest.fixture
def resolver(monkeypatch):
    """Answers for host names, as a DNS server would (other names resolve as usual). Per name, a
    list of answers, one taken per lookup while more than one is left (a name that rebinds); an
    answer is an address or a list of addresses."""
    answers: dict[str, list] = {}
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        answer = answers[host].pop(0) if len(answers[host]) > 1 else answers[host][0]
        return [(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (address, port)) for address in ([answer] if isinstance(answer, str) else answer)]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    ssrf.forget_lookups()
    return answers


@pytest.fixture
def production_password_hashing(settings):
    """Argon2 as in production; request it before any fixture that creates users."""
    settings.PASSWORD_HASHERS = settings.PRODUCTION_PASSWORD_HASHERS


@pytest.fixture
def provisioned(db):
    return tenant_provision(name="Acme", owner_email="owner@acme.test", owner_password="s3cret-pass!")


@pytest.fixture
def other_provisioned(db):
    return tenant_provision(name="Globex", owner_email="owner@globex.test", owner_password="s3cret-pass!")


@pytest.fixture
def tenant(provisioned):
    return provisioned.tenant


@pytest.fixture
def app(provisioned):
    return provisioned.app


@pytest.fixture
def secret(provisioned) -> str:
    return provisioned.test_key.secret


def client_for(secret: str | None) -> APIClient:
    client = APIClient()
    if secret:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def api(secret) -> APIClient:
    return client_for(secret)


@pytest.fixture
def live_secret(app) -> str:
    """A live key of our app (a fresh tenant gets only a test key)."""
    return api_key_create(app=app, name="live", mode="live").secret


@pytest.fixture
def live_api(live_secret) -> APIClient:
    return client_for(live_secret)


@pytest.fixture
def other_api(other_provisioned) -> APIClient:
    return client_for(other_provisioned.test_key.secret)


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


@pytest.fixture
def clear_cache():
    cache.clear()
    yield
