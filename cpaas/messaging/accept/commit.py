"""Stage 3 of the lean send path: the group commit.

Concurrent requests' messages go to PostgreSQL as one multi-row INSERT (each row checked against
the opt-outs, ``queries.INSERT_GROUP_UNLESS_OPTED_OUT``) in one transaction; each request awaits
its own row's commit before it answers 201, and one dispatch kick follows each group. There is no
timer: ``conf.ACCEPT_DB_CONNECTIONS`` writers each hold one connection, and whatever queued while
a commit was in flight is the next group, so a lone request waits for no one and a crowd shares
commits (decision 1010).

The connections are psycopg's own (asynchronous, statements prepared), opened from Django's
database settings in the event loop of each web process; Django's connections are not used here.
"""

from __future__ import annotations

import asyncio
import json
import logging

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections

from cpaas.core.db import PREPARE_ONLY_WHEN_ASKED, idle_and_open
from cpaas.messaging import conf, infra, queries
from cpaas.messaging.kicks import kick_dispatch
from cpaas.messaging.models import Message, Status

log = logging.getLogger(__name__)

#: What a lost or unreachable PostgreSQL raises here: the request answers 503.
OUTAGES: tuple[type[BaseException], ...] = (psycopg.OperationalError, psycopg.InterfaceError, OSError)

#: How the group commit's connections show in ``pg_stat_activity`` (``<name>/sms-accept`` when
#: DATABASE_URL names the application).
APPLICATION_NAME = "cpaas-sms-accept"
#: What a request whose row was queued or in flight when its writer stopped is told (a 503).
SHUTTING_DOWN = "the server is shutting down"
_SKIPPED_OPTIONS = {"pool", "isolation_level", "server_side_binding", "assume_role"}


def _connect_params() -> dict:
    settings = connections[DEFAULT_DB_ALIAS].settings_dict
    params = {"dbname": settings["NAME"], "user": settings["USER"] or None,
              "password": settings["PASSWORD"] or None, "host": settings["HOST"] or None,
              "port": settings["PORT"] or None, "connect_timeout": 5, "prepare_threshold": PREPARE_ONLY_WHEN_ASKED,
              "autocommit": True}
    params.update({k: v for k, v in (settings.get("OPTIONS") or {}).items() if k not in _SKIPPED_OPTIONS})
    # A DATABASE_URL's own name, marked: the operator still sees whose they are, and can tell them apart.
    own = params.get("application_name")
    params["application_name"] = f"{own}/sms-accept" if own else APPLICATION_NAME
    return {k: v for k, v in params.items() if v is not None}


class GroupCommit:
    """The writers of one event loop (one per web process)."""

    def __init__(self) -> None:
        self.queue: list[tuple[dict, asyncio.Future]] = []
        self.wake: asyncio.Event | None = None
        self.writers: list[asyncio.Task] = []
        self.groups = 0
        self.rows = 0

    async def insert(self, message: Message) -> bool:
        """Write ``message`` in the next group; True once committed, False when its recipient opted
        out (nothing written). Raises what the commit raised (``OUTAGES`` for a lost database)."""
        if self.wake is None:
            self.wake = asyncio.Event()
            loop = asyncio.get_running_loop()
            self.writers = [loop.create_task(self._write_groups(), name=f"sms-accept-commit-{n}")
                            for n in range(max(1, conf.ACCEPT_DB_CONNECTIONS))]
        future = asyncio.get_running_loop().create_future()
        self.queue.append((queries.message_row(message), future))
        self.wake.set()
        return await future

    async def _write_groups(self) -> None:
        connection: psycopg.AsyncConnection | None = None
        try:
            while True:
                await self.wake.wait()
                group, self.queue = self.queue[: conf.ACCEPT_GROUP_MAX], self.queue[conf.ACCEPT_GROUP_MAX:]
                if not self.queue:
                    self.wake.clear()
                if not group:
                    continue
                try:
                    if connection is not None and not idle_and_open(connection):
                        await connection.close()  # PostgreSQL ended it while idle: never send into it
                        connection = None
                    if connection is None:
                        connection = await psycopg.AsyncConnection.connect(**_connect_params())
                    written, failed = await _write(connection, [row for row, _ in group])
                except asyncio.CancelledError:
                    _fail(group, psycopg.OperationalError(SHUTTING_DOWN))  # in flight: their requests answer 503
                    raise
                except Exception as exc:
                    if isinstance(exc, OUTAGES) and connection is not None:
                        await connection.close()  # reconnect for the next group
                        connection = None
                    _fail(group, exc)
                    continue
                self.groups += 1
                self.rows += len(group)
                for row, future in group:
                    if future.done():
                        continue
                    if row["id"] in failed:
                        future.set_exception(failed[row["id"]])
                    else:
                        future.set_result(row["id"] in written)
                if any(row["id"] in written and row["status"] == Status.QUEUED for row, _ in group):
                    try:
                        kick_dispatch()
                    except Exception:  # the beat's dispatch safety net still finds the rows
                        log.warning("could not kick the dispatcher after a group commit", exc_info=True)
        finally:
            if connection is not None:
                await connection.close()

    async def close(self) -> None:
        for task in self.writers:
            task.cancel()
        await asyncio.gather(*self.writers, return_exceptions=True)
        self.writers, self.wake = [], None
        queued, self.queue = self.queue, []
        _fail(queued, psycopg.OperationalError(SHUTTING_DOWN))  # never written: their requests answer 503


def _fail(group: list[tuple[dict, asyncio.Future]], exc: BaseException) -> None:
    """Answer every request of ``group`` still waiting with ``exc``."""
    for _, future in group:
        if not future.done():
            future.set_exception(exc)


async def _write(connection: psycopg.AsyncConnection, rows: list[dict]) -> tuple[set[str], dict[str, Exception]]:
    """One statement, a transaction by itself (autocommit: no BEGIN and COMMIT round trips); the
    ids written (the others' recipients opted out). A statement that fails for one bad row (not an
    outage) is redone row by row in savepoints, so that row fails only its own request: the
    failures come back by id."""
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(queries.INSERT_GROUP_UNLESS_OPTED_OUT,
                                 [json.dumps(rows, default=infra.json_value)], prepare=True)
            return {row[0] for row in await cursor.fetchall()}, {}
    except OUTAGES:
        raise
    except Exception:
        if len(rows) == 1:
            raise
        log.info("a grouped send failed; writing its %d rows one by one", len(rows), exc_info=True)
    written: set[str] = set()
    failed: dict[str, Exception] = {}
    async with connection.transaction(), connection.cursor() as cursor:
        for row in rows:
            try:
                async with connection.transaction():
                    await cursor.execute(queries.INSERT_GROUP_UNLESS_OPTED_OUT,
                                         [json.dumps([row], default=infra.json_value)], prepare=True)
                    written.update(found[0] for found in await cursor.fetchall())
            except OUTAGES:
                raise
            except Exception as exc:
                log.warning("a send's row could not be written", exc_info=True)
                failed[row["id"]] = exc
    return written, failed


_committers: dict[asyncio.AbstractEventLoop, GroupCommit] = {}


def committer() -> GroupCommit:
    """The group commit of the running event loop (one per web process; a test may run several)."""
    loop = asyncio.get_running_loop()
    found = _committers.get(loop)
    if found is None:
        for old in [old for old in _committers if old.is_closed()]:
            del _committers[old]
        found = _committers[loop] = GroupCommit()
    return found


async def close() -> None:
    """Stop this loop's writers and close their connections (the ASGI lifespan's shutdown)."""
    found = _committers.pop(asyncio.get_running_loop(), None)
    if found is not None:
        await found.close()
