"""``/healthz`` and ``/readyz``: no key needed, no tenant data, 503 naming what is not ready.

Readiness is checked in-process against the real PostgreSQL and Redis, and in a real uvicorn
process pointed at ports where nothing listens (as tests/e2e/test_outages.py does).
"""

from __future__ import annotations

import time

import httpx
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from cpaas.core import health
from tests.e2e.test_outages import dead_port
from tests.im.conftest import terminate_other_connections
from tests.im.processes import GatewayProcess
from tests.im.test_chaos import _database_url


def test_healthz_answers_without_a_key(db):
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_readyz_is_ready_on_the_real_servers(db):
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready" and body["failed"] == []
    assert body["checks"] == {"database": "ok", "redis": "ok", "broker": "ok", "migrations": "ok"}


def test_readyz_is_not_ready_with_an_unapplied_migration(db):
    app, name = sorted(health.migration_leaves())[0]
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = %s AND name = %s", [app, name])
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["migrations"]
    assert f"{app}.{name}" in body["checks"]["migrations"]


def test_readyz_only_answers_get(db):
    assert Client().post("/readyz").status_code == 405


@pytest.fixture
def platform(transactional_db):
    """A real uvicorn serving cpaas.asgi, with the pool's default wait (DB_POOL_TIMEOUT_SECONDS=3)."""
    started: list[GatewayProcess] = []

    def start(*, database_url: str, redis_url: str, **extra_env: str) -> GatewayProcess:
        started.append(GatewayProcess(database_url, redis_url, extra_env=extra_env))
        return started[-1].start()

    yield start
    for process in started:
        process.stop()
    terminate_other_connections()


def _readyz(process) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.get(f"{process.http}/readyz", timeout=30)
    return response, time.monotonic() - started


def test_readyz_names_postgresql_when_it_is_unreachable(platform):
    process = platform(database_url=f"postgres://postgres@127.0.0.1:{dead_port()}/cpaas",
                       redis_url=settings.REDIS_URL)
    assert httpx.get(f"{process.http}/healthz", timeout=10).status_code == 200
    response, took = _readyz(process)
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["database", "migrations"]
    assert body["checks"]["redis"] == body["checks"]["broker"] == "ok"
    assert took < 5


def test_readyz_names_redis_and_the_broker_when_they_are_unreachable(platform):
    process = platform(database_url=_database_url(), redis_url=f"redis://127.0.0.1:{dead_port()}/0")
    response, took = _readyz(process)
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["broker", "redis"]
    assert body["checks"]["database"] == body["checks"]["migrations"] == "ok"
    assert "Connection" in body["checks"]["redis"]
    assert took < 5



def test_readyz_names_only_the_broker_when_only_it_is_unreachable(platform):
    process = platform(database_url=_database_url(), redis_url=settings.REDIS_URL,
                       CELERY_BROKER_URL=f"redis://127.0.0.1:{dead_port()}/0")
    response, _ = _readyz(process)
    assert response.status_code == 503
    assert response.json()["failed"] == ["broker"]
