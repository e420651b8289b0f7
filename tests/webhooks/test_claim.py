"""Claims per endpoint: fair shares, each endpoint's room, and a saturated endpoint's pile of due
rows costs the others nothing (docs/decisions/0109)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from webhooks import publish_many
from webhooks.dispatch import _CLAIM_SQL, _DUE_ENDPOINTS_SQL, claim, due_endpoints, shares
from webhooks.models import Delivery


def _fill(app, type_: str, n: int, tag: str) -> None:
    publish_many(app, [(type_, {"id": f"msg_{tag}_{i}"}, f"{tag}-{i}") for i in range(n)], livemode=False)


@pytest.fixture
def two_endpoints(app, make_endpoint):
    """A big endpoint (message.sent) and a small one (message.delivered)."""
    big = make_endpoint("https://big.example.com/hook", event_types=["message.sent"]).endpoint
    small = make_endpoint("https://small.example.com/hook", event_types=["message.delivered"]).endpoint
    return big, small


def test_shares_split_fairly_and_give_what_one_cannot_take_to_the_others():
    assert shares(["a", "b"], 20) == {"a": 10, "b": 10}
    assert shares(["a", "b", "c"], 20, room={"a": 2, "b": 50, "c": 50}.get) == {"a": 2, "b": 9, "c": 9}
    assert shares(["a", "b"], 20, room={"a": 0, "b": 50}.get) == {"b": 20}
    assert shares(["a", "b"], 20, room={"a": 3, "b": 4}.get) == {"a": 3, "b": 4}
    # more endpoints than rows: one each, the longest waiting first
    assert shares(["c", "a", "b"], 2) == {"c": 1, "a": 1}
    assert shares([], 20) == {}


def test_an_endpoint_with_a_big_pile_does_not_starve_one_with_a_few(app, two_endpoints):
    big, small = two_endpoints
    _fill(app, "message.sent", 300, "big")  # published first: its rows are the oldest
    _fill(app, "message.delivered", 5, "small")
    taken = claim(40)
    by_endpoint = {e: sum(1 for d in taken if d.endpoint_id == e) for e in (big.id, small.id)}
    assert by_endpoint == {big.id: 20, small.id: 5}
    assert taken.more  # the big one filled its share: claim again at once
    assert len({d.id for d in taken}) == 25


def test_a_claim_gives_an_endpoint_no_more_than_its_room(app, two_endpoints):
    big, small = two_endpoints
    _fill(app, "message.sent", 50, "big")
    _fill(app, "message.delivered", 50, "small")
    taken = claim(40, room={big.id: 3, small.id: 400}.get)
    assert sum(1 for d in taken if d.endpoint_id == big.id) == 3
    assert sum(1 for d in taken if d.endpoint_id == small.id) == 37


def test_excluded_endpoints_are_left_alone_and_the_last_rows_say_no_more(app, two_endpoints):
    big, small = two_endpoints
    _fill(app, "message.sent", 30, "big")
    _fill(app, "message.delivered", 3, "small")
    taken = claim(40, exclude={big.id})
    assert {d.endpoint_id for d in taken} == {small.id}
    assert len(taken) == 3
    assert not taken.more
    assert Delivery.objects.filter(endpoint=big, claim_token="").count() == 30


def test_due_endpoints_skips_endpoints_whose_rows_are_all_later(app, two_endpoints):
    big, small = two_endpoints
    _fill(app, "message.sent", 3, "big")
    _fill(app, "message.delivered", 3, "small")
    Delivery.objects.filter(endpoint=big).update(next_attempt_at=timezone.now() + timedelta(hours=2))
    assert due_endpoints(timezone.now()) == [small.id]
    assert due_endpoints(timezone.now() + timedelta(hours=3)) == [small.id, big.id]  # longest waiting first
    assert due_endpoints(timezone.now(), exclude={small.id}) == []


def _buffers(sql: str, params: list) -> int:
    """Shared buffers a statement touched (EXPLAIN ANALYZE, BUFFERS): work, not time."""
    import psycopg

    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
        (plan,) = cursor.fetchone()[0]
    plan = plan if isinstance(plan, dict) else json.loads(plan)
    top = plan["Plan"]
    return top["Shared Hit Blocks"] + top["Shared Read Blocks"]


def test_a_saturated_endpoint_s_pile_of_due_rows_is_not_walked_by_the_claim(app, two_endpoints):
    """The claim's work for the healthy endpoint must not grow with the excluded one's pile (the
    old ``ORDER BY next_attempt_at … endpoint_id <> ALL(saturated)`` claim walked all of it)."""
    big, small = two_endpoints
    _fill(app, "message.sent", 20, "big")
    _fill(app, "message.delivered", 200, "small")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE webhooks_delivery")
    now = timezone.now()

    def cost() -> int:
        lease = now + timedelta(seconds=60)
        return (_buffers(_DUE_ENDPOINTS_SQL, [now, [big.id], 200])
                + _buffers(_CLAIM_SQL, [lease, "t" * 32, [small.id], [10], now]))

    small_pile = cost()
    _fill(app, "message.sent", 3000, "pile")
    # the saturated endpoint's due rows, all older than the healthy endpoint's
    Delivery.objects.filter(endpoint=big).update(next_attempt_at=now - timedelta(hours=1))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE webhooks_delivery")
    big_pile = cost()
    assert big_pile < small_pile * 1.5 + 20, (small_pile, big_pile)
