"""Query-string filters of list endpoints, parsed one way: a bad value is a 400 naming the parameter.

Django's ``parse_date``/``parse_datetime`` return None for a malformed value but *raise* for a
well-formed impossible one (``2026-13-45``); ``int()`` accepts ``1_000`` and values PostgreSQL
cannot compare with a bigint. Every list endpoint reads its filters through these helpers instead.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, datetime

from django.utils.dateparse import parse_date, parse_datetime

from cpaas.core.errors import ApiError

#: The largest integer a filter may carry (PostgreSQL bigint).
MAX_INT = 2**63 - 1


def _raw(params: Mapping, name: str) -> str | None:
    raw = params.get(name)
    return None if raw in (None, "") else raw


def query_datetime(params: Mapping, name: str) -> datetime | None:
    """An ISO 8601 date-time with a time zone, or None when absent."""
    raw = _raw(params, name)
    if raw is None:
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:  # well-formed but impossible: month 13, day 45, hour 25
        value = None
    if value is None or value.tzinfo is None:
        raise ApiError(f"`{name}` must be an ISO 8601 date-time with a time zone.", param=name)
    return value


def query_date(params: Mapping, name: str, default: date | None = None) -> date | None:
    """A calendar date ``YYYY-MM-DD``, or ``default`` when absent."""
    raw = _raw(params, name)
    if raw is None:
        return default
    try:
        value = parse_date(raw)
    except ValueError:
        value = None
    if value is None:
        raise ApiError(f"`{name}` must be a date (YYYY-MM-DD).", param=name)
    return value


def query_int(params: Mapping, name: str, *, minimum: int = 0, maximum: int = MAX_INT) -> int | None:
    """A decimal integer within ``[minimum, maximum]``, or None when absent."""
    raw = _raw(params, name)
    if raw is None:
        return None
    value = int(raw) if raw.isascii() and raw.lstrip("-").isdigit() and len(raw) <= 20 else None
    if value is None or not minimum <= value <= maximum:
        raise ApiError(f"`{name}` must be an integer from {minimum} to {maximum}.", param=name)
    return value


def query_enum(params: Mapping, name: str, choices: Collection[str]) -> str | None:
    """One of ``choices``, or None when absent."""
    raw = _raw(params, name)
    if raw is not None and raw not in choices:
        raise ApiError(f"`{name}` must be one of {', '.join(choices)}.", param=name)
    return raw


def query_bool(params: Mapping, name: str) -> bool | None:
    """``true`` or ``false``, or None when absent."""
    raw = query_enum(params, name, ("true", "false"))
    return None if raw is None else raw == "true"
