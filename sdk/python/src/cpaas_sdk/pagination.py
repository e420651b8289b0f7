"""Auto-pagination over the API's cursor lists (``{"object": "list", "has_more", "data"}``).

``for m in client.messages.list(status="delivered")`` fetches page after page, passing the last
item's id as ``starting_after``, until ``has_more`` is false. A few lists page by another cursor
(IM group members by ``user_id``, conversation history by ``after_seq``/``seq``); the resource
says which. ``follow()`` polls for items newer than the newest seen (``ending_before``), oldest
first, as ``cpaas messages tail`` and ``cpaas events tail`` do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from cpaas_sdk.objects import ApiObject

Fetch = Callable[[dict[str, Any]], ApiObject]
AsyncFetch = Callable[[dict[str, Any]], Awaitable[ApiObject]]

#: ``follow(since=LATEST)``: start after the newest item when iteration starts (ids contain ``_``,
#: so this can never be one). ``since=None``: the list was empty, everything in it is new.
LATEST = "latest"


class _Cursor:
    def __init__(self, params: dict[str, Any], cursor_param: str, cursor_field: str) -> None:
        self.params = {k: v for k, v in params.items() if v is not None}
        self.cursor_param, self.cursor_field = cursor_param, cursor_field

    def next_params(self, params: dict[str, Any], page: ApiObject) -> dict[str, Any] | None:
        data = page.get("data") or []
        if not page.get("has_more") or not data:
            return None
        return {**params, self.cursor_param: data[-1][self.cursor_field]}

    @staticmethod
    def newer(params: dict[str, Any], newest: str) -> dict[str, Any]:
        out = {k: v for k, v in params.items() if k not in ("starting_after", "ending_before")}
        return {**out, "ending_before": newest, "limit": 100}

    @staticmethod
    def newest_of(page: ApiObject) -> str | None:
        data = page.get("data") or []
        return data[0]["id"] if data else None


class Pager(_Cursor):
    """A lazy, re-iterable list: iterate it for every item, or ask for pages."""

    def __init__(self, fetch: Fetch, params: dict[str, Any], *, cursor_param: str = "starting_after",
                 cursor_field: str = "id") -> None:
        super().__init__(params, cursor_param, cursor_field)
        self._fetch = fetch

    def first_page(self) -> ApiObject:
        return self._fetch(dict(self.params))

    def pages(self) -> Iterator[ApiObject]:
        params: dict[str, Any] | None = dict(self.params)
        while params is not None:
            page = self._fetch(params)
            yield page
            params = self.next_params(params, page)

    def __iter__(self) -> Iterator[ApiObject]:
        for page in self.pages():
            yield from page.get("data") or []

    def latest_id(self) -> str | None:
        """The id of the newest item now (None for an empty list): a ``since`` for :meth:`follow`."""
        return self.newest_of(self._fetch({**self.params, "limit": 1}))

    def follow(self, *, interval: float = 1.0, since: str | None = LATEST) -> Iterator[ApiObject]:
        """Yield items created after ``since`` (an id; by default the newest item when iteration
        starts — a generator starts at its first ``next``; None: every item), oldest first,
        polling every ``interval`` seconds, forever. For the lists ordered newest first (by id)."""
        newest = self.latest_id() if since == LATEST else since
        while True:
            if newest is None:  # the list was empty: everything in it now is new
                items, has_more = list(reversed(list(self))), False
            else:
                page = self._fetch(self.newer(self.params, newest))
                items, has_more = list(reversed(page.get("data") or [])), bool(page.get("has_more"))
            yield from items
            if items:
                newest = items[-1]["id"]
            if not has_more:
                time.sleep(interval)


class AsyncPager(_Cursor):
    """The same for ``AsyncClient``: ``async for item in pager`` / ``await pager.first_page()``."""

    def __init__(self, fetch: AsyncFetch, params: dict[str, Any], *, cursor_param: str = "starting_after",
                 cursor_field: str = "id") -> None:
        super().__init__(params, cursor_param, cursor_field)
        self._fetch = fetch

    async def first_page(self) -> ApiObject:
        return await self._fetch(dict(self.params))

    async def pages(self) -> AsyncIterator[ApiObject]:
        params: dict[str, Any] | None = dict(self.params)
        while params is not None:
            page = await self._fetch(params)
            yield page
            params = self.next_params(params, page)

    async def __aiter__(self) -> AsyncIterator[ApiObject]:
        async for page in self.pages():
            for item in page.get("data") or []:
                yield item

    async def latest_id(self) -> str | None:
        return self.newest_of(await self._fetch({**self.params, "limit": 1}))

    async def follow(self, *, interval: float = 1.0, since: str | None = LATEST) -> AsyncIterator[ApiObject]:
        newest = await self.latest_id() if since == LATEST else since
        while True:
            if newest is None:
                items, has_more = list(reversed([item async for item in self])), False
            else:
                page = await self._fetch(self.newer(self.params, newest))
                items, has_more = list(reversed(page.get("data") or [])), bool(page.get("has_more"))
            for item in items:
                yield item
            if items:
                newest = items[-1]["id"]
            if not has_more:
                await asyncio.sleep(interval)
