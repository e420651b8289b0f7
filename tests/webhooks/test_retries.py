import random
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from tests.webhooks.conftest import run
from webhooks import conf, publish, retry
from webhooks.models import Delivery, Endpoint, Event
from webhooks.services import endpoints_disable_failing

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("made", "expected"), list(enumerate(retry.SCHEDULE))[1:])
def test_each_retry_waits_the_scheduled_time_within_twenty_percent(made, expected):
    delays = [retry.next_delay(made, rng=random.Random(seed)) for seed in range(200)]
    assert min(delays) >= expected * 0.8
    assert max(delays) <= expected * 1.2
    assert max(delays) - min(delays) > 0  # jittered


def test_the_schedule_is_svix_s():
    assert retry.SCHEDULE == [0, 5, 300, 1800, 7200, 18000, 36000, 36000]
    assert retry.next_delay(8) is None


def test_a_timeout_or_429_waits_at_least_a_minute():
    assert retry.next_delay(1, timed_out=True) >= 60
    assert retry.next_delay(1, status_code=429) >= 60
    assert retry.next_delay(1, status_code=500) < 60


def test_retry_after_is_honoured_as_the_larger_of_backoff_and_header_capped_at_two_hours():
    assert retry.next_delay(1, status_code=503, retry_after=120) == 120
    assert retry.next_delay(1, status_code=503, retry_after=10 * 3600) == 2 * 3600
    assert 300 * 0.8 <= retry.next_delay(2, status_code=503, retry_after=1) <= 300 * 1.2


def test_retry_after_is_read_as_seconds_or_an_http_date():
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert retry.parse_retry_after("30", now) == 30
    assert retry.parse_retry_after("Sun, 01 Mar 2026 12:02:00 GMT", now) == 120
    assert retry.parse_retry_after("soon", now) is None
    assert retry.parse_retry_after(None, now) is None


def _due_in(delivery: Delivery) -> float:
    return (delivery.next_attempt_at - timezone.now()).total_seconds()


def test_a_failing_delivery_follows_the_schedule_then_is_exhausted(app, receiver, dispatcher, make_endpoint,
                                                                   monkeypatch):
    monkeypatch.setattr(conf, "BREAKER_FAILURES", 1000)  # the breaker is tested on its own
    with time_machine.travel(START, tick=True) as traveller:
        endpoint = make_endpoint(receiver.url("/status/500")).endpoint
        event = publish(app, "message.sent", {"id": "msg_1"}, idempotency_key="k1", livemode=False)
        for made in range(1, 9):
            run(dispatcher)
            delivery = Delivery.objects.get(event=event)
            assert delivery.attempts == made
            if made < 8:
                assert delivery.status == "pending"
                expected = retry.SCHEDULE[made]
                assert expected * 0.8 - 1 <= _due_in(delivery) <= expected * 1.2 + 1
                if made == 4:
                    assert Event.objects.filter(type="webhook.attempt.failing").count() == 1
                traveller.shift(timedelta(seconds=_due_in(delivery) + 1))
        assert delivery.status == "failed"
        assert len([r for r in receiver.requests if r["headers"]["webhook-id"] == event.id]) == 8
        exhausted = Event.objects.get(type="webhook.attempt.exhausted")
        assert exhausted.data["delivery_id"] == delivery.id
        assert exhausted.data["attempts"] == 8
        endpoint.refresh_from_db()
        assert endpoint.failing_since is not None
        assert endpoint.enabled


def test_a_429_with_retry_after_is_retried_after_the_header(app, receiver, dispatcher, make_endpoint):
    make_endpoint(receiver.url("/status/429?retry_after=600"))
    publish(app, "ping", {"endpoint_id": "x", "message": "m"}, idempotency_key="k1", livemode=False)
    run(dispatcher)
    assert 595 <= _due_in(Delivery.objects.get()) <= 601


def test_a_429_without_retry_after_waits_at_least_a_minute(app, receiver, dispatcher, make_endpoint):
    make_endpoint(receiver.url("/status/429"))
    publish(app, "ping", {"endpoint_id": "x", "message": "m"}, idempotency_key="k1", livemode=False)
    run(dispatcher)
    assert _due_in(Delivery.objects.get()) >= 58


def test_410_gone_disables_the_endpoint_at_once(app, receiver, dispatcher, make_endpoint):
    endpoint = make_endpoint(receiver.url("/status/410")).endpoint
    publish(app, "ping", {"endpoint_id": "x", "message": "m"}, idempotency_key="k1", livemode=False)
    run(dispatcher)
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert endpoint.disabled_reason == "gone"
    assert Delivery.objects.get(endpoint=endpoint, event__type="ping").status == "failed"
    disabled = Event.objects.get(type="webhook_endpoint.disabled")
    assert disabled.data["reason"] == "gone"


def test_an_endpoint_still_failing_five_days_after_exhaustion_is_disabled(app, make_endpoint):
    with time_machine.travel(START, tick=False) as traveller:
        endpoint = make_endpoint("https://hooks.example.com/x").endpoint
        Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now())
        publish(app, "ping", {"endpoint_id": "x", "message": "m"}, idempotency_key="k1", livemode=False)
        traveller.shift(timedelta(days=4, hours=23))
        assert endpoints_disable_failing() == 0
        traveller.shift(timedelta(hours=2))
        assert endpoints_disable_failing() == 1
        assert endpoints_disable_failing() == 0
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert endpoint.disabled_reason == "failing"
    assert Event.objects.filter(type="webhook_endpoint.disabled").count() == 1
    assert Delivery.objects.get(event__type="ping").status == "failed"


def test_any_success_resets_the_failure_clock(app, receiver, dispatcher, make_endpoint):
    endpoint = make_endpoint(receiver.url("/ok")).endpoint
    Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=3))
    publish(app, "ping", {"endpoint_id": "x", "message": "m"}, idempotency_key="k1", livemode=False)
    run(dispatcher)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None
    assert endpoints_disable_failing(now=timezone.now() + timedelta(days=10)) == 0


def test_a_delivery_that_succeeds_after_failing_sends_recovered(app, receiver, dispatcher, make_endpoint):
    make_endpoint(receiver.url("/ok"))
    publish(app, "message.sent", {"id": "msg_1"}, idempotency_key="k1", livemode=False)
    Delivery.objects.update(attempts=5)
    run(dispatcher)
    recovered = Event.objects.get(type="webhook.attempt.recovered")
    assert recovered.data["attempts"] == 6
