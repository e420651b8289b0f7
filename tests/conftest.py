"""Shared fixtures: our tenant and another tenant, each with an app and a test key."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from cpaas.core.ratelimit import gate
from cpaas.tenants.keys import principal_cache
from cpaas.tenants.services import tenant_provision


@pytest.fixture(autouse=True)
def _fresh_caches():
    principal_cache.clear()
    gate().auth_reset("127.0.0.1")  # the test client's address: failed logins of one test never block the next
    yield
    principal_cache.clear()


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
def other_api(other_provisioned) -> APIClient:
    return client_for(other_provisioned.test_key.secret)


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


@pytest.fixture
def clear_cache():
    cache.clear()
    yield
