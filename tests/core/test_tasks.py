"""Housekeeping tasks: safe to run twice; and a real worker runs them from the Redis broker."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from cpaas.core.models import IdempotencyKey
from cpaas.core.tasks import purge_idempotency_keys
from tests.support.worker import celery_worker


def expired_key(app, key):
    return IdempotencyKey.objects.create(
        app_id=app.id, key=key, method="POST", path="/v1/apps", request_hash="0" * 64,
        status=IdempotencyKey.Status.COMPLETED, expires_at=timezone.now() - timedelta(seconds=1),
    )


def test_running_the_purge_twice_has_one_effect(app):
    expired_key(app, "a")
    assert purge_idempotency_keys() == 1
    assert purge_idempotency_keys() == 0


def test_the_purge_is_on_the_beat_schedule():
    from cpaas.celery import app

    assert any(e["task"] == purge_idempotency_keys.name for e in app.conf.beat_schedule.values())


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_purge_from_the_broker():
    from cpaas.tenants.services import tenant_provision

    app = tenant_provision(name="Worker").app
    expired_key(app, "stale")
    with celery_worker():
        purge_idempotency_keys.delay()
        deadline = time.monotonic() + 20
        while IdempotencyKey.objects.filter(key="stale").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    assert not IdempotencyKey.objects.filter(key="stale").exists()


def test_a_worker_keeps_its_database_connection_from_task_to_task(transactional_db):
    """Celery's Django fixup closed every connection around each task: a cold PostgreSQL backend
    per SMS dispatch task cost a third of a core at 1,000 messages/s (cpaas/celery.py)."""
    from celery.fixups.django import DjangoWorkerFixup
    from django.db import connection

    from cpaas.celery import app

    fixup = DjangoWorkerFixup(app)
    connection.ensure_connection()
    before = connection.connection
    for _ in range(3):
        fixup.close_database()  # what the fixup runs before and after each task
    assert connection.connection is before


def test_a_broken_connection_is_dropped_before_the_next_task(transactional_db, monkeypatch):
    from django.db import connection

    from cpaas.celery import _database_connections_as_between_requests

    connection.ensure_connection()
    monkeypatch.setattr(connection, "is_usable", lambda: False)
    connection.errors_occurred = True  # as after an OperationalError in the previous task
    _database_connections_as_between_requests()
    assert connection.connection is None
