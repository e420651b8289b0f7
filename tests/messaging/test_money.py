"""Money before traffic on SMS: every live send and batch reserves against the prepaid balance
and the app's spend cap before it is accepted (402 otherwise), settles when it is sent or fails,
and costs one Redis round trip (none for a postpaid app without a cap, none in test mode)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing import leases
from billing.models import UsageEvent
from cpaas.carriers.base import InboundSms
from cpaas.carriers.sandbox import connector as sandbox
from cpaas.core.redis_client import redis_client
from cpaas.messaging.dispatch import dispatch_batch
from cpaas.messaging.inbound import inbound_receive
from cpaas.messaging.inventory import number_assign
from cpaas.messaging.models import Connector, Message, Route
from tests.messaging.conftest import send
from tests.support.money import available, capped, held, prepaid, price

TEN_CENTS = [{"meter": "sms_segments", "model": "per_unit", "unit_price": "0.10"}]


pytestmark = pytest.mark.usefixtures("money_state")


@pytest.fixture
def live(live):
    """The live client of tests/messaging/conftest.py, with a live route to +1."""
    Route.objects.create(prefix="+1", connector=Connector.objects.create(id="carrier", kind="sandbox"))
    return live


class RedisCalls:
    """Counts the commands billing sends to Redis (a spy on the real client, nothing replaced):
    those naming a ``billing:`` key, since the SMS room shares the process's client."""

    def __init__(self, monkeypatch):
        self.commands: list[str] = []
        client = redis_client()
        real = client.execute_command

        def spy(*args, **options):
            if any(isinstance(arg, str) and arg.startswith("billing:") for arg in args[1:]):
                self.commands.append(str(args[0]))
            return real(*args, **options)

        monkeypatch.setattr(client, "execute_command", spy)


@pytest.mark.usefixtures("send_path")  # the Django view and the lean send path
def test_an_exhausted_prepaid_account_gets_402_and_nothing_is_stored(tenant, app, live):
    price(tenant, TEN_CENTS)
    prepaid(tenant, "0.30")
    assert [send(live, to=f"+1202555010{n}").status_code for n in range(3)] == [201, 201, 201]
    refused = send(live, to="+12025550109")
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("billing_error", "insufficient_funds", None)
    assert error["retryable"] is False
    assert Message.objects.count() == 3


@pytest.mark.usefixtures("send_path")  # the Django view and the lean send path
def test_a_spend_cap_refuses_a_postpaid_app_with_402(tenant, app, live):
    price(tenant, [{"meter": "sms_segments", "model": "per_unit", "unit_price": "0.50"}])
    capped(app, 100)  # 1.00 a month: two sends
    assert send(live).status_code == 201
    assert send(live).status_code == 201
    refused = send(live)
    assert (refused.status_code, refused.json()["error"]["code"]) == (402, "spend_cap_exceeded")


def test_a_batch_accepts_what_the_balance_covers_and_refuses_the_rest(tenant, app, live):
    price(tenant, TEN_CENTS)
    prepaid(tenant, "0.20")
    items = [{"to": f"+1202555010{n}", "from": "Acme", "body": "hi"} for n in range(3)]
    response = live.post("/v1/messages/batch", {"messages": items}, format="json")
    body = response.json()
    assert response.status_code in (200, 201, 207), body
    errors = [row.get("error") for row in body["data"]]
    assert errors[:2] == [None, None]
    assert (errors[2]["code"], errors[2]["param"]) == ("insufficient_funds", "messages[2]")
    assert Message.objects.count() == 2


def test_test_mode_traffic_is_never_reserved_or_charged(tenant, app, api, monkeypatch):
    price(tenant, TEN_CENTS)
    prepaid(tenant, "0")
    redis = RedisCalls(monkeypatch)
    assert send(api).status_code == 201
    dispatch_batch()
    assert redis.commands == []
    assert held(app) == 0


def test_a_postpaid_app_without_a_cap_costs_no_redis_call(tenant, app, live, monkeypatch):
    price(tenant, TEN_CENTS)
    assert send(live).status_code == 201  # warms this process's copy of the app's money settings
    redis = RedisCalls(monkeypatch)
    assert send(live).status_code == 201
    assert redis.commands == []


def test_a_gated_send_costs_one_redis_call_and_no_extra_query(tenant, app, live, monkeypatch):
    price(tenant, TEN_CENTS)
    assert send(live, to="+12025550100").status_code == 201  # warm: caches, routing table, prepared insert
    with CaptureQueriesContext(connection) as open_app:
        assert send(live, to="+12025550101").status_code == 201
    prepaid(tenant, "5.00")
    assert send(live, to="+12025550102").status_code == 201  # warm: money settings and balance state
    redis = RedisCalls(monkeypatch)
    with CaptureQueriesContext(connection) as gated:
        assert send(live, to="+12025550103").status_code == 201
    assert redis.commands == ["EVALSHA"]
    assert len(gated.captured_queries) == len(open_app.captured_queries)


def test_a_sent_message_keeps_its_reservation_and_a_failed_one_gives_it_back(
        tenant, app, live, django_capture_on_commit_callbacks):
    price(tenant, TEN_CENTS)
    prepaid(tenant, "0.10")
    failing = send(live, to=sandbox.FAILED_AT_SUBMIT).json()["id"]
    assert held(app) == 100_000
    assert send(live).json()["error"]["code"] == "insufficient_funds"
    with django_capture_on_commit_callbacks(execute=True):
        dispatch_batch()
    assert Message.objects.get(pk=failing).status == "failed"
    assert (held(app), available(tenant)) == (0, 100_000)
    delivered = send(live)
    assert delivered.status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        dispatch_batch()
    assert Message.objects.get(pk=delivered.json()["id"]).status in ("sent", "delivered")
    assert (held(app), available(tenant)) == (0, 0)
    assert send(live).status_code == 402


def test_canceling_a_scheduled_message_gives_its_reservation_back(
        tenant, app, live, django_capture_on_commit_callbacks):
    price(tenant, TEN_CENTS)
    prepaid(tenant, "0.10")
    later = (timezone.now() + timedelta(hours=1)).isoformat()
    message_id = send(live, send_at=later).json()["id"]
    assert send(live).status_code == 402
    with django_capture_on_commit_callbacks(execute=True):
        assert live.post(f"/v1/messages/{message_id}/cancel", {}, format="json").status_code == 200
    assert held(app) == 0
    assert send(live).status_code == 201


def test_concurrent_sends_never_overdraw_the_balance(tenant, app, live, transactional_db):
    price(tenant, TEN_CENTS)
    prepaid(tenant, "0.50")
    assert send(live).status_code == 201  # the balance state is in Redis now: 0.40 left
    answers: list[int] = []

    def worker() -> None:
        try:
            answers.append(send(live, to="+12025550177").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [201] * 4 + [402] * 8


def test_usage_is_recorded_in_the_mode_of_the_message(app, api, live):
    test_id = send(api).json()["id"]
    live_id = send(live).json()["id"]
    dispatch_batch()
    modes = dict(UsageEvent.objects.filter(app=app).values_list("idempotency_key", "mode"))
    assert modes == {f"sms:{test_id}": "test", f"sms:{live_id}": "live"}


def test_a_help_reply_is_a_live_send_and_is_not_sent_when_the_balance_cannot_pay(tenant, app, live):
    # Anyone can text HELP to a live number: the auto-reply must pass the same money check.
    number = number_assign(app=app, number="+12025550199", connector="carrier").number
    assert live.post("/v1/sms/settings", {"help_text": "Acme support"}, format="json").status_code == 200
    price(tenant, TEN_CENTS)
    prepaid(tenant, "0.10")
    for sender in ("+12025550101", "+12025550102"):
        inbound_receive(InboundSms("carrier", sender=sender, recipient=number, body="HELP"))
    assert list(Message.objects.filter(direction="outbound").values_list("to", flat=True)) == ["+12025550101"]
    assert held(app) > 0


def test_sends_reserved_from_a_process_slice_settle_like_any_other(
        tenant, app, live, django_capture_on_commit_callbacks):
    # A steady sender reserves from a slice of the balance (decision 1000); the dispatcher's
    # settles (sent: kept, failed: given back) land before or after the slice comes back.
    price(tenant, TEN_CENTS)
    prepaid(tenant, "100.00")
    sent = [send(live, to=f"+1202555{n:04d}").status_code for n in range(120)]
    assert sent == [201] * 120
    assert leases._table[app.pk].lease_id  # the last sends came from a slice
    failing = send(live, to=sandbox.FAILED_AT_SUBMIT)
    assert failing.status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        while dispatch_batch()["claimed"]:
            pass
    assert Message.objects.get(pk=failing.json()["id"]).status == "failed"
    leases.return_all()
    assert (held(app), available(tenant)) == (0, 100_000_000 - 120 * 100_000)
