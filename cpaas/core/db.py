"""Database helpers shared by the hot write paths (webhooks publish and claims, billing ledger)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db import connection


def pg_cursor():
    """A cursor with server-side parameter binding on Django's connection (PostgreSQL only):
    arrays and many values are dumped in C, where Django's client-side cursor inlines each one
    as a quoted literal, and a hot statement can be prepared once per connection (``prepare=True``)."""
    import psycopg

    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def chunks(items: list, size: int) -> Iterator[list]:
    """``items`` in consecutive slices of at most ``size`` (statements with bounded parameters)."""
    for start in range(0, len(items), size):
        yield items[start:start + size]
