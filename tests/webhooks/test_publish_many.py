"""publish_many: the batch form of publish (same semantics, a fixed number of queries per batch)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from webhooks import NewEvent, publish, publish_many
from webhooks.models import Delivery, Endpoint, Event
from webhooks.services import endpoint_create


def _batch(n: int, tag: str = "k", type_: str = "message.sent"):
    return [(type_, {"id": f"msg_{i}", "n": i}, f"{tag}{i}") for i in range(n)]


def test_it_records_each_event_and_its_deliveries_in_order(app, make_endpoint):
    a = make_endpoint("https://hooks.example.com/a").endpoint
    b = make_endpoint("https://hooks.example.com/b").endpoint

    events = publish_many(app, _batch(5), livemode=False)

    assert [e.idempotency_key for e in events] == [f"k{i}" for i in range(5)]
    assert [e.data["n"] for e in events] == list(range(5))
    assert Event.objects.count() == 5
    stored = Event.objects.get(pk=events[3].pk)
    assert (stored.type, stored.data, stored.subject, stored.sequence) == ("message.sent", {"id": "msg_3", "n": 3},
                                                                           "msg_3", 1)
    pairs = set(Delivery.objects.values_list("event_id", "endpoint_id"))
    assert pairs == {(e.id, ep.id) for e in events for ep in (a, b)}
    states = set(Delivery.objects.values_list("status", "attempts", "manual", "app_id"))
    assert states == {("pending", 0, False, app.id)}


def test_without_returning_it_records_the_same_and_hands_back_nothing(app, make_endpoint):
    """The hot paths (SMS, IM) never look at the Events; building them was a fifth of a worker."""
    endpoint = make_endpoint("https://hooks.example.com/a").endpoint
    publish_many(app, _batch(2, "old"), livemode=False)

    assert publish_many(app, [*_batch(3), *_batch(1, "old")], returning=False, livemode=False) is None

    assert Event.objects.count() == 5
    stored = Event.objects.get(idempotency_key="k2")
    assert (stored.id[:4], stored.data, stored.subject, stored.sequence) == ("evt_", {"id": "msg_2", "n": 2},
                                                                             "msg_2", 1)
    assert Event.objects.get(idempotency_key="old0").sequence == 1  # recorded before: left alone
    deliveries = Delivery.objects.filter(event__idempotency_key__in=["k0", "k1", "k2"])
    assert {(d.id[:4], d.endpoint_id, d.status) for d in deliveries} == {("dlv_", endpoint.id, "pending")}
    assert deliveries.count() == 3


def test_the_number_of_queries_does_not_grow_with_the_batch(app, make_endpoint):
    make_endpoint("https://hooks.example.com/a")
    make_endpoint("https://hooks.example.com/b", event_types=["message.sent"])
    publish_many(app, _batch(1, "warm"), livemode=False)  # fills the endpoint cache

    with CaptureQueriesContext(connection) as small:
        publish_many(app, _batch(3, "s"), livemode=False)
    with CaptureQueriesContext(connection) as big:
        publish_many(app, _batch(400, "b"), livemode=False)

    assert len(big) == len(small) <= 4
    assert Delivery.objects.count() == 2 * 404


def test_republishing_the_same_batch_records_nothing_new(app, make_endpoint):
    make_endpoint("https://hooks.example.com/a")
    first = publish_many(app, _batch(20), livemode=False)
    again = publish_many(app, _batch(20), livemode=False)

    assert [e.id for e in again] == [e.id for e in first]
    assert [e.sequence for e in again] == [1] * 20
    assert Event.objects.count() == 20
    assert Delivery.objects.count() == 20


def test_a_batch_mixing_old_new_and_repeated_keys_records_each_key_once(app, make_endpoint):
    make_endpoint("https://hooks.example.com/a")
    old = publish(app, "message.sent", {"id": "msg_0"}, idempotency_key="k0", livemode=False)

    events = publish_many(app, [
        ("message.sent", {"id": "msg_0"}, "k0"),
        ("message.delivered", {"id": "msg_1"}, "k1"),
        ("message.delivered", {"id": "msg_1"}, "k1"),
    ], livemode=False)

    assert events[0].id == old.id
    assert events[1].id == events[2].id
    assert Event.objects.count() == 2
    assert Delivery.objects.count() == 2


def test_it_numbers_a_subjects_events_in_batch_order_after_earlier_ones(app):
    publish(app, "message.queued", {"id": "msg_a"}, idempotency_key="q", livemode=False)

    events = publish_many(app, [
        ("message.sent", {"id": "msg_a"}, "s"),
        ("message.sent", {"id": "msg_b"}, "sb"),
        ("message.delivered", {"id": "msg_a"}, "d"),
        ("ping", {"message": "no subject"}, "p"),
    ], livemode=False)

    assert [(e.subject, e.sequence) for e in events] == [("msg_a", 2), ("msg_b", 1), ("msg_a", 3), ("", 0)]
    assert publish(app, "message.failed", {"id": "msg_a"}, idempotency_key="f", livemode=False).sequence == 4


def test_it_matches_each_event_type_against_each_endpoint_filter(app, make_endpoint):
    everything = make_endpoint("https://hooks.example.com/all").endpoint
    sent_only = make_endpoint("https://hooks.example.com/sent", event_types=["message.sent"]).endpoint
    make_endpoint("https://hooks.example.com/calls", event_types=["call.completed"])
    make_endpoint("https://hooks.example.com/off", enabled=False)

    sent, delivered = publish_many(app, [
        ("message.sent", {"id": "msg_1"}, "a"),
        ("message.delivered", {"id": "msg_1"}, "b"),
    ], livemode=False)

    assert set(Delivery.objects.values_list("event_id", "endpoint_id")) == {
        (sent.id, everything.id), (sent.id, sent_only.id), (delivered.id, everything.id),
    }


def test_another_tenants_endpoints_and_keys_are_not_touched(app, other_provisioned, make_endpoint):
    mine = make_endpoint("https://hooks.example.com/mine").endpoint
    theirs = endpoint_create(app_id=other_provisioned.app.id, mode="test", url="https://hooks.example.com/theirs").endpoint
    publish(other_provisioned.app, "message.sent", {"id": "msg_0"}, idempotency_key="k0", livemode=False)

    events = publish_many(app, _batch(3), livemode=False)

    assert all(e.app_id == app.id for e in events)
    assert Event.objects.filter(app=other_provisioned.app).count() == 1
    assert Event.objects.filter(app=app).count() == 3
    assert set(Delivery.objects.filter(event__app=app).values_list("endpoint_id", flat=True)) == {mine.id}
    assert Delivery.objects.filter(endpoint=theirs).count() == 1


def test_an_endpoint_deleted_behind_the_cache_gets_nothing_and_breaks_nothing(app, make_endpoint):
    kept = make_endpoint("https://hooks.example.com/kept").endpoint
    gone = make_endpoint("https://hooks.example.com/gone").endpoint
    publish_many(app, _batch(1, "warm"), livemode=False)
    Endpoint.objects.filter(pk=gone.pk).delete()  # a queryset delete: no signal reaches the cache
    Endpoint.objects.filter(pk=kept.pk).update(enabled=False)

    publish_many(app, _batch(3), livemode=False)

    assert Delivery.objects.filter(event__idempotency_key__startswith="k").count() == 0


def test_an_endpoint_created_in_this_process_gets_the_next_batch(app, make_endpoint):
    publish_many(app, _batch(1, "warm"), livemode=False)
    new = make_endpoint("https://hooks.example.com/new").endpoint

    publish_many(app, _batch(2), livemode=False)

    assert Delivery.objects.filter(endpoint=new).count() == 2


def test_it_kicks_the_dispatcher_on_commit_only(app, make_endpoint, monkeypatch, django_capture_on_commit_callbacks):
    from webhooks import services

    kicks = []
    monkeypatch.setattr(services, "dispatch_kick", lambda: kicks.append(1))
    make_endpoint("https://hooks.example.com/a")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        publish_many(app, _batch(10), livemode=False)
    assert kicks == []
    for callback in callbacks:
        callback()
    assert kicks == [1]


def test_an_empty_batch_does_nothing(app, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert publish_many(app, [], livemode=False) == []


# --- test and live mode ------------------------------------------------------------------------

@pytest.fixture
def both_modes(app):
    test = endpoint_create(app_id=app.id, mode="test", url="https://hooks.example.com/test").endpoint
    live = endpoint_create(app_id=app.id, mode="live", url="https://hooks.example.com/live").endpoint
    return test, live


def test_test_mode_events_reach_only_test_mode_endpoints(app, both_modes):
    test, _live = both_modes
    event = publish(app, "message.sent", {"id": "msg_1"}, idempotency_key="k", livemode=False)
    assert event.livemode is False
    assert list(Delivery.objects.values_list("endpoint_id", flat=True)) == [test.id]


def test_live_events_reach_only_live_endpoints(app, both_modes):
    _test, live = both_modes
    publish_many(app, _batch(3), livemode=True)
    assert set(Delivery.objects.values_list("endpoint_id", flat=True)) == {live.id}
    assert set(Event.objects.values_list("livemode", flat=True)) == {True}


def test_an_event_may_carry_its_own_mode_in_a_batch(app, both_modes):
    test, live = both_modes
    in_test, in_live = publish_many(app, [
        NewEvent("message.sent", {"id": "msg_1"}, "a", livemode=False),
        NewEvent("message.sent", {"id": "msg_2"}, "b"),
    ], livemode=True)
    assert (in_test.livemode, in_live.livemode) == (False, True)
    pairs = set(Delivery.objects.values_list("event_id", "endpoint_id"))
    assert pairs == {(in_test.id, test.id), (in_live.id, live.id)}


def test_an_event_whose_mode_is_not_stated_is_refused_and_recorded_nowhere(app, both_modes):
    """Decision 0890: "not stated" once reached endpoints of both modes; now it is a bug, loudly."""
    with pytest.raises(TypeError, match="has no mode"):
        publish_many(app, _batch(2), livemode=None)
    with pytest.raises(TypeError, match="has no mode"):
        publish_many(app, [NewEvent("message.sent", {"id": "msg_1"}, "a", livemode=False),
                           NewEvent("message.sent", {"id": "msg_2"}, "b")], livemode=None)
    with pytest.raises(TypeError):
        publish(app, "message.sent", {"id": "msg_1"}, idempotency_key="k")  # no default
    assert Event.objects.count() == Delivery.objects.count() == 0


def test_a_mode_must_be_a_bool_not_a_mode_name(app, both_modes):
    with pytest.raises(TypeError, match="has no mode"):
        publish(app, "message.sent", {"id": "msg_1"}, idempotency_key="k", livemode="live")
    assert Event.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_attempts_have_no_database_fk_yet_go_with_their_delivery(app, make_endpoint):
    """Decision 0110: the deferred FK check at the results COMMIT cost ~0.8 ms per attempt."""
    from webhooks.models import Attempt

    make_endpoint("https://hooks.example.com/a")
    (event,) = publish_many(app, _batch(1, "fk"), livemode=False)
    delivery = Delivery.objects.get(event=event)
    Attempt.objects.create(delivery=delivery, endpoint_id=delivery.endpoint_id, latency_ms=1, succeeded=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_constraint WHERE conrelid = 'webhooks_attempt'::regclass "
                       "AND contype = 'f'")
        assert cursor.fetchone()[0] == 0
    delivery.delete()
    assert Attempt.objects.count() == 0
