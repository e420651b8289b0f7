"""Twilio's list paging over our keyset order: ``PageSize``, ``Page`` and an opaque ``PageToken``.

Lists are newest first. ``PageToken`` is ``PA`` + the SID of the last row shown ("after it") or
``PB`` + the SID of the first ("before it", for ``previous_page_uri``), so every page is one
indexed range query however deep it is; ``Page`` only numbers the pages for ``start``/``end``.
The answer holds exactly one list key besides the paging fields, which is how the SDKs find it.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.db.models import QuerySet

from cpaas.core.errors import ApiError
from cpaas.twilio import params, sids

DEFAULT_SIZE = 50
MAX_SIZE = 1000


def page(request, queryset: QuerySet, *, key: str, letters: str, render: Callable[[list], list[dict]],
         filters: dict[str, str]) -> dict:
    """One page of ``queryset`` (rows of SID kind ``letters``) as Twilio's list answer."""
    query = request.query_params
    size = params.integer(query, "PageSize", default=DEFAULT_SIZE, low=1, high=MAX_SIZE)
    number = params.integer(query, "Page", default=0, low=0, high=10**9)
    token = query.get("PageToken") or ""
    if not token:
        number = 0  # a page number means nothing without its token: the first page
    has_previous = has_next = False
    if token:
        ref = sids.object_id(token[2:], letters)
        if token[:2] not in ("PA", "PB") or ref is None:
            raise ApiError("`PageToken` is not a page token of this list.", param="PageToken")
        if token[:2] == "PA":
            rows = list(queryset.filter(pk__lt=ref).order_by("-pk")[: size + 1])
            has_next, rows, has_previous = len(rows) > size, rows[:size], True
        else:
            rows = list(queryset.filter(pk__gt=ref).order_by("pk")[: size + 1])
            has_previous, rows, has_next = len(rows) > size, rows[:size][::-1], True
    else:
        rows = list(queryset.order_by("-pk")[: size + 1])
        has_next, rows = len(rows) > size, rows[:size]
    path = request.path

    def uri(page_number: int, page_token: str | None = None) -> str:
        args = {**filters, "PageSize": size, "Page": page_number}
        if page_token:
            args["PageToken"] = page_token
        return f"{path}?{urlencode(args)}"

    start = number * size
    return {
        key: render(rows),
        "page": number,
        "page_size": size,
        "start": start,
        "end": start + len(rows) - 1 if rows else start,
        "uri": uri(number, token or None),
        "first_page_uri": uri(0),
        "next_page_uri": uri(number + 1, "PA" + sids.sid(rows[-1].pk)) if has_next and rows else None,
        "previous_page_uri": (uri(max(0, number - 1), "PB" + sids.sid(rows[0].pk))
                              if has_previous and rows else None),
    }
