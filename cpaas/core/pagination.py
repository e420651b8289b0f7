"""Cursor pagination by object id: ``?limit=&starting_after=&ending_before=``, newest first.

Ids are ULIDs, so ordering by id is ordering by creation time, and a cursor is simply the last id
seen: stable under inserts, one indexed range scan per page, no OFFSET.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db.models import QuerySet

from cpaas.core.errors import ApiError

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def parse_limit(params) -> int:
    raw = params.get("limit")
    if raw in (None, ""):
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(f"`limit` must be an integer from 1 to {MAX_LIMIT}.", param="limit")
    return limit


def paginate(
    request,
    queryset: QuerySet,
    serialize: Callable[[Iterable[Any]], list[dict]],
) -> dict[str, Any]:
    params = request.query_params
    limit = parse_limit(params)
    after, before = params.get("starting_after"), params.get("ending_before")
    if after and before:
        raise ApiError("Use `starting_after` or `ending_before`, not both.", param="ending_before")
    for name, value in (("starting_after", after), ("ending_before", before)):
        if value is not None and (not value or len(value) > 40 or "_" not in value):
            raise ApiError(f"`{name}` must be an object id.", code="invalid_cursor", param=name)
    if before:
        rows = list(queryset.filter(pk__gt=before).order_by("pk")[: limit + 1])
        has_more = len(rows) > limit
        rows = list(reversed(rows[:limit]))
    else:
        if after:
            queryset = queryset.filter(pk__lt=after)
        rows = list(queryset.order_by("-pk")[: limit + 1])
        has_more = len(rows) > limit
        rows = rows[:limit]
    return {"object": "list", "url": request.path, "has_more": has_more, "data": serialize(rows)}
