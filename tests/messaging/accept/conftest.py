"""The lean send path's tests send through a real uvicorn serving cpaas.asgi (tests/support/lean.py)."""

import pytest

import cpaas.asgi
from tests.support.lean import lean_post


@pytest.fixture
def lean_only(lean_server, monkeypatch):
    """Sends to the lean server; a request it handed to Django fails the test."""

    async def no_django(scope, receive, send):
        raise AssertionError(f"Django served {scope['method']} {scope['path']}")

    monkeypatch.setattr(cpaas.asgi, "django_asgi", no_django)
    return lambda client, *args, **kwargs: lean_post(lean_server, client, "/v1/messages", *args, **kwargs)
