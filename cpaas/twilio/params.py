"""Reading Twilio's form parameters into the arguments of our services."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime

from cpaas.core.errors import ApiError
from cpaas.voice import states


def text(data, name: str) -> str | None:
    value = data.get(name)
    return None if value is None else str(value)


def integer(data, name: str, *, default: int, low: int, high: int) -> int:
    raw = data.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ApiError(f"`{name}` must be an integer from {low} to {high}.", param=name)
    return value


def boolean(data, name: str, *, default: bool = False) -> bool:
    raw = data.get(name)
    if raw in (None, ""):
        return default
    if str(raw).lower() in ("true", "1"):
        return True
    if str(raw).lower() in ("false", "0"):
        return False
    raise ApiError(f"`{name}` must be true or false.", param=name)


def post_only(data, name: str) -> None:
    """Documents and callbacks are always POSTed: a GET asked for is refused, not silently changed."""
    value = (data.get(name) or "POST").upper()
    if value != "POST":
        raise ApiError(f"`{name}` must be POST: this platform fetches documents and posts callbacks "
                       "with POST only.", param=name)


def call_events(data, *, with_callback: bool) -> list[str] | None:
    """``StatusCallbackEvent`` (repeated, or space-separated): Twilio sends only ``completed``
    when a StatusCallback comes without events."""
    values = [part for raw in data.getlist("StatusCallbackEvent") for part in str(raw).split()]
    unknown = [value for value in values if value not in states.STATUS_EVENTS]
    if unknown:
        raise ApiError(f"`StatusCallbackEvent` {unknown[0]!r} is not one of "
                       f"{', '.join(states.STATUS_EVENTS)}.", param="StatusCallbackEvent")
    if values:
        return [event for event in states.STATUS_EVENTS if event in values]
    return ["completed"] if with_callback else None


def _bad_moment(name: str) -> ApiError:
    return ApiError(f"`{name}` must be a date (YYYY-MM-DD) or an ISO 8601 date-time.", param=name)


def _moment(raw: str, name: str, *, end: bool) -> datetime:
    """A date (its first moment, or the first moment of the next day when ``end``) or a date-time.

    An impossible date-time (February 30th: parse_datetime raises) or the last day of the calendar
    (its next day overflows) is the caller's bad input: a 400 naming the parameter, never a 500.
    """
    try:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            when = parse_datetime(raw.replace(" ", "+"))
            if when is None:
                raise _bad_moment(name) from None
            return when if when.tzinfo else when.replace(tzinfo=UTC)
        moment = datetime.combine(day, time.min, tzinfo=UTC)
        return moment + timedelta(days=1) if end else moment
    except (ValueError, OverflowError):
        raise _bad_moment(name) from None


def _day_of(raw: str, name: str) -> str:
    """The UTC day of ``raw`` (a date-time near the end of the calendar may overflow into none)."""
    try:
        return _moment(raw, name, end=False).astimezone(UTC).date().isoformat()
    except (ValueError, OverflowError):
        raise _bad_moment(name) from None


def to_from_filter(queryset: QuerySet, query, *, from_column: str) -> tuple[QuerySet, dict[str, str]]:
    """Twilio's ``To`` and ``From`` list filters (exact), and the ones used, for the paging links."""
    used: dict[str, str] = {}
    for theirs, column in (("To", "to"), ("From", from_column)):
        if query.get(theirs):
            used[theirs] = query[theirs]
            queryset = queryset.filter(**{column: query[theirs]})
    return queryset, used


def date_filter(queryset: QuerySet, query, name: str, column: str) -> tuple[QuerySet, dict[str, str]]:
    """Twilio's ``Name`` (that day), ``Name<`` (on or before) and ``Name>`` (on or after)."""
    used: dict[str, str] = {}
    if query.get(name):  # the day of it, a date-time too (the SDKs send midnight as one)
        raw = used[name] = query[name]
        day = _day_of(raw, name)
        queryset = queryset.filter(**{f"{column}__gte": _moment(day, name, end=False),
                                      f"{column}__lt": _moment(day, name, end=True)})
    if query.get(f"{name}<"):
        raw = used[f"{name}<"] = query[f"{name}<"]
        queryset = queryset.filter(**{f"{column}__lt": _moment(raw, f"{name}<", end=True)})
    if query.get(f"{name}>"):
        raw = used[f"{name}>"] = query[f"{name}>"]
        queryset = queryset.filter(**{f"{column}__gte": _moment(raw, f"{name}>", end=False)})
    return queryset, used
