import pytest

from cpaas.messaging import pipeline, services
from cpaas.messaging.infra import redis_client


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Owners get a console password at provisioning; Argon2 would dominate these tests' time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_sms_state():
    services.caches_clear()
    pipeline.routing_reset()
    client = redis_client()
    if client is not None:
        for key in client.scan_iter("cpaas:sms:*"):
            client.delete(key)
    yield
    services.caches_clear()
    pipeline.routing_reset()


@pytest.fixture
def number(api):
    response = api.post("/v1/numbers", {}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["number"]


def send(api, **fields):
    body = {"to": "+15005550000", "from": "Acme", "body": "Hello"}
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    return api.post("/v1/messages", body, format="json")
