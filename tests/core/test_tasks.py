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
        app_id=app.id, mode="test", key=key, method="POST", path="/v1/apps", request_hash="0" * 64,
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


def _task_starts(task=None):
    from celery.signals import task_prerun

    from cpaas.celery import app

    task = task or app.tasks["celery.backend_cleanup"]
    task_prerun.send(sender=task, task_id="t-1", task=task, args=(), kwargs={})


def test_a_broken_connection_is_dropped_before_the_next_task(transactional_db, monkeypatch):
    from django.db import connection

    connection.ensure_connection()
    monkeypatch.setattr(connection, "is_usable", lambda: False)
    connection.errors_occurred = True  # as after an OperationalError in the previous task
    _task_starts()
    assert connection.connection is None


def test_a_connection_the_server_dropped_under_a_raw_cursor_is_replaced_in_the_next_task(transactional_db):
    """psycopg's errors on pg_cursor do not mark the connection as Django's do: the health check
    at the next task's first query must still find it dead."""
    import psycopg
    import pytest
    from django.db import connection

    from cpaas.core.db import pg_cursor

    with pg_cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with psycopg.connect(**{k: v for k, v in connection.get_connection_params().items()
                            if k in ("host", "port", "user", "password", "dbname")}, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    with pytest.raises(psycopg.OperationalError), pg_cursor() as cursor:
        cursor.execute("SELECT 1")
    assert not connection.errors_occurred  # what Django's own check would have relied on
    _task_starts()
    with pg_cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_a_task_run_eagerly_inside_a_transaction_keeps_its_connection(transactional_db):
    from django.db import connection, transaction

    from cpaas.celery import app

    task = app.tasks["celery.backend_cleanup"]
    task.push_request(is_eager=True)
    try:
        with transaction.atomic():
            connection.ensure_connection()
            before = connection.connection
            _task_starts(task)
            assert connection.connection is before
    finally:
        task.pop_request()
