"""Readiness checks for ``/readyz``: PostgreSQL, Redis and the Celery broker answer, and every
migration on disk is applied. No tenant data is read.

Each check returns None when fine, else a short reason. Timeouts are the clients' own: Redis
connects within 1 s and answers within 2 s (cpaas/core/redis_client.py); PostgreSQL within
``DB_CONNECT_TIMEOUT_SECONDS`` (the pool waits ``DB_POOL_TIMEOUT_SECONDS`` under ASGI).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from django.db import DatabaseError, connection
from django.db.migrations.loader import MigrationLoader

from cpaas.core.broker import broker_client
from cpaas.core.redis_client import redis_client


@cache
def migration_leaves() -> frozenset[tuple[str, str]]:
    """The last migration of every app, read from disk once per process (the code cannot change
    under a running process, the database can)."""
    return frozenset(MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes())


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


def check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure means not ready
        return _short(exc)
    return None


def check_migrations() -> str | None:
    leaves = migration_leaves()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT app, name FROM django_migrations WHERE name = ANY(%s)",
                           [sorted({name for _, name in leaves})])
            applied = set(cursor.fetchall())
    except DatabaseError as exc:
        return _short(exc)
    missing = sorted(f"{app}.{name}" for app, name in leaves - applied)
    return f"unapplied migrations: {', '.join(missing)}" if missing else None


def check_redis() -> str | None:
    try:
        redis_client().ping()
    except Exception as exc:
        return _short(exc)
    return None


def check_broker() -> str | None:
    try:
        broker_client().ping()
    except Exception as exc:
        return _short(exc)
    return None


CHECKS: dict[str, Callable[[], str | None]] = {
    "database": check_database,
    "redis": check_redis,
    "broker": check_broker,
}


def readiness() -> dict[str, str]:
    """``{check: "ok" | reason}``; migrations are checked only when the database answers."""
    results = {name: check() or "ok" for name, check in CHECKS.items()}
    if results["database"] == "ok":
        results["migrations"] = check_migrations() or "ok"
    else:
        results["migrations"] = "not checked: database unreachable"
    return results
