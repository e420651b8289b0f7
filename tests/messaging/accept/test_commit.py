"""The group commit of the lean send path: concurrent sends share commits, each request answers
for its own row, a lost database is a 503 (and the writer reconnects), a refused row fails only
its own request."""

from __future__ import annotations

import asyncio
import threading

import psycopg
import pytest
from django.db import connection

from cpaas.messaging.accept import commit
from cpaas.messaging.models import Message
from cpaas.tenants.keys import api_key_create
from tests.conftest import client_for
from tests.core.test_db import _terminate

pytestmark = pytest.mark.django_db(transaction=True)

GOOD = {"to": "+15005550000", "from": "Acme", "body": "Hello"}


def test_concurrent_sends_share_commits_and_each_gets_its_own_row(app, lean_only):
    api = client_for(api_key_create(app=app, name="fast", rate_limit=1000).secret)
    before = {c: (c.groups, c.rows) for c in commit._committers.values()}
    answers = []

    def one(n: int) -> None:
        answers.append(lean_only(api, {**GOOD, "to": f"+1202555{n:04d}"}, format="json"))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [201] * 40
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == 40
    assert set(Message.objects.values_list("id", flat=True)) == ids
    (committer,) = commit._committers.values()
    groups = committer.groups - before.get(committer, (0, 0))[0]
    assert committer.rows - before.get(committer, (0, 0))[1] == 40
    assert groups < 40  # 40 concurrent requests shared commits (3 groups in a quiet run)


def test_a_lost_database_at_the_commit_is_a_503_and_nothing_is_kept(api, lean_only, monkeypatch):
    assert lean_only(api, GOOD, format="json").status_code == 201  # key and settings now cached
    params = commit._connect_params()
    monkeypatch.setattr(commit, "_connect_params", lambda: {**params, "port": 1})
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [commit.APPLICATION_NAME])
        pids = [pid for (pid,) in cursor.fetchall()]
    assert pids
    for pid in pids:
        _terminate(pid)
    answers = [lean_only(api, {**GOOD, "to": f"+1202555000{n}"}, format="json") for n in range(3)]
    for answer in answers:
        assert answer.status_code == 503, answer.json()
        error = answer.json()["error"]
        assert (error["code"], error["retryable"]) == ("service_unavailable", True)
        assert int(answer["Retry-After"]) > 0
    assert Message.objects.count() == 1
    monkeypatch.setattr(commit, "_connect_params", lambda: params)
    assert lean_only(api, GOOD, format="json").status_code == 201  # it reconnects


def test_a_row_the_database_refuses_fails_only_its_own_request(app, lean_only, monkeypatch):
    """A group whose statement fails for one row (not an outage) is redone row by row: the others
    are written and answered 201. (Validation lets no such row through; a bug could.)"""
    api = client_for(api_key_create(app=app, name="fast", rate_limit=1000).secret)
    real_row = commit.queries.message_row

    def row(message):
        out = real_row(message)
        if message.to == "+12025550666":
            out["reference"] = "x" * 500  # longer than the column
        return out

    monkeypatch.setattr(commit.queries, "message_row", row)
    answers: dict[str, int] = {}

    def one(to: str) -> None:
        answers[to] = lean_only(api, {**GOOD, "to": to}, format="json").status_code

    numbers = ["+12025550666", *(f"+1202555010{n}" for n in range(9))]
    threads = [threading.Thread(target=one, args=(to,)) for to in numbers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers.pop("+12025550666") == 500
    assert set(answers.values()) == {201}
    assert set(Message.objects.values_list("to", flat=True)) == set(numbers[1:])


def test_shutdown_mid_commit_answers_the_requests_in_flight(monkeypatch):
    """A writer stopped while its group's INSERT runs (the ASGI lifespan's shutdown) answers that
    group's requests with an outage (their 503, retryable) instead of leaving them waiting."""

    async def scenario() -> list[BaseException | bool]:
        started = asyncio.Event()

        async def stuck(connection, rows):
            started.set()
            await asyncio.Event().wait()  # a statement that outlives the shutdown

        monkeypatch.setattr(commit, "_write", stuck)
        committer = commit.committer()
        sends = [asyncio.ensure_future(committer.insert(Message(to=f"+1202555020{n}"))) for n in range(3)]
        await asyncio.wait_for(started.wait(), 10)
        await asyncio.wait_for(commit.close(), 10)
        return await asyncio.wait_for(asyncio.gather(*sends, return_exceptions=True), 10)

    outcomes = asyncio.run(scenario())
    assert len(outcomes) == 3
    for outcome in outcomes:
        assert isinstance(outcome, psycopg.OperationalError), outcome
        assert isinstance(outcome, commit.OUTAGES)
