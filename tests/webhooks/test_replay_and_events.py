from datetime import timedelta

from django.utils import timezone

from tests.webhooks.conftest import run
from webhooks import publish
from webhooks.models import Delivery, Event


def test_it_lists_deliveries_with_their_attempts(api, app, receiver, dispatcher, make_endpoint,
                                                 django_assert_max_num_queries):
    endpoint = make_endpoint(receiver.url("/status/500")).endpoint
    for n in range(3):
        publish(app, "message.sent", {"id": f"msg_{n}"}, idempotency_key=f"k{n}", livemode=False)
    run(dispatcher)
    with django_assert_max_num_queries(8):
        body = api.get(f"/v1/webhook-endpoints/{endpoint.id}/deliveries").json()
    assert len(body["data"]) == 3
    delivery = body["data"][0]
    assert delivery["status"] == "pending"
    (attempt,) = delivery["attempt_log"]
    assert attempt["status_code"] == 500
    assert attempt["response_body"] == "status body"
    assert attempt["latency_ms"] >= 0
    assert attempt["request_headers"]["webhook-id"] == delivery["event"]["id"]
    one = api.get(f"/v1/webhook-endpoints/{endpoint.id}/deliveries/{delivery['id']}").json()
    assert one["id"] == delivery["id"]


def test_a_retried_delivery_is_sent_again_with_the_same_webhook_id(api, app, receiver, dispatcher, make_endpoint):
    endpoint = make_endpoint(receiver.url("/ok")).endpoint
    publish(app, "message.sent", {"id": "msg_1"}, idempotency_key="k1", livemode=False)
    run(dispatcher)
    delivery = Delivery.objects.get()

    response = api.post(f"/v1/webhook-endpoints/{endpoint.id}/deliveries/{delivery.id}/retry", {}, format="json")
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    run(dispatcher)

    first, second = receiver.requests
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"
    assert delivery.attempts == 2


def test_a_manual_retry_that_fails_gets_one_attempt_not_a_new_schedule(api, app, receiver, dispatcher, make_endpoint):
    endpoint = make_endpoint(receiver.url("/status/503")).endpoint
    publish(app, "message.sent", {"id": "msg_1"}, idempotency_key="k1", livemode=False)
    Delivery.objects.update(status="failed", attempts=8, next_attempt_at=None)
    delivery = Delivery.objects.get()
    api.post(f"/v1/webhook-endpoints/{endpoint.id}/deliveries/{delivery.id}/retry", {}, format="json")
    run(dispatcher)
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert delivery.attempts == 9


def test_recover_resends_failed_deliveries_since_a_time_and_dry_run_only_counts(api, app, receiver, dispatcher,
                                                                                 make_endpoint):
    endpoint = make_endpoint(receiver.url("/ok")).endpoint
    for n in range(4):
        publish(app, "message.sent", {"id": f"msg_{n}"}, idempotency_key=f"k{n}", livemode=False)
    old = Delivery.objects.order_by("id").first()
    Delivery.objects.update(status="failed", next_attempt_at=None)
    Delivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    since = (timezone.now() - timedelta(days=1)).isoformat()
    url = f"/v1/webhook-endpoints/{endpoint.id}/recover"

    dry = api.post(url, {"since": since, "dry_run": True}, format="json").json()
    assert dry["count"] == 3
    assert Delivery.objects.filter(status="failed").count() == 4

    real = api.post(url, {"since": since}, format="json")
    assert real.status_code == 202
    assert real.json()["count"] == 3
    run(dispatcher)
    assert len(receiver.requests) == 3
    assert Delivery.objects.filter(status="succeeded").count() == 3
    assert Delivery.objects.get(pk=old.pk).status == "failed"


def test_recover_needs_a_since(api, make_endpoint):
    endpoint = make_endpoint("https://hooks.example.com/x").endpoint
    response = api.post(f"/v1/webhook-endpoints/{endpoint.id}/recover", {"dry_run": True}, format="json")
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["param"] == "since"


def test_the_test_call_sends_a_ping_to_that_endpoint_only(api, receiver, dispatcher, make_endpoint):
    target = make_endpoint(receiver.url("/ok?target")).endpoint
    make_endpoint(receiver.url("/ok?other"))
    response = api.post(f"/v1/webhook-endpoints/{target.id}/test", {}, format="json")
    assert response.status_code == 202
    assert response.json()["event"]["type"] == "ping"
    run(dispatcher)
    assert len(receiver.requests) == 1
    assert b'"type":"ping"' in receiver.requests[0]["body"]
    assert "body" not in response.json()


def test_the_test_call_refuses_a_disabled_endpoint(api, make_endpoint):
    endpoint = make_endpoint("https://hooks.example.com/x", enabled=False).endpoint
    response = api.post(f"/v1/webhook-endpoints/{endpoint.id}/test", {}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "endpoint_disabled"


def test_events_are_listed_and_fetched_with_their_sequence(api, app):
    first = publish(app, "message.sent", {"id": "msg_1"}, idempotency_key="a", livemode=False)
    publish(app, "message.delivered", {"id": "msg_1"}, idempotency_key="b", livemode=False)
    listed = api.get("/v1/events").json()["data"]
    assert [e["sequence"] for e in listed] == [2, 1]
    assert api.get("/v1/events?type=message.sent").json()["data"][0]["id"] == first.id
    fetched = api.get(f"/v1/events/{first.id}").json()
    assert fetched["data"] == {"id": "msg_1"}
    assert fetched["type"] == "message.sent"


def test_another_tenant_s_events_and_deliveries_are_not_found(api, other_api, app, make_endpoint):
    endpoint = make_endpoint("https://hooks.example.com/x").endpoint
    event = publish(app, "message.sent", {"id": "msg_1"}, idempotency_key="a", livemode=False)
    delivery = Delivery.objects.get()
    assert other_api.get(f"/v1/events/{event.id}").status_code == 404
    assert other_api.get("/v1/events").json()["data"] == []
    base = f"/v1/webhook-endpoints/{endpoint.id}/deliveries/{delivery.id}"
    assert other_api.get(base).status_code == 404
    assert other_api.post(f"{base}/retry", {}, format="json").status_code == 404


def test_events_older_than_the_retention_are_purged(app, make_endpoint):
    from webhooks.services import events_purge

    make_endpoint("https://hooks.example.com/x")
    publish(app, "message.sent", {"id": "msg_1"}, idempotency_key="a", livemode=False)
    publish(app, "message.sent", {"id": "msg_2"}, idempotency_key="b", livemode=False)
    Event.objects.filter(idempotency_key="a").update(created_at=timezone.now() - timedelta(days=91))
    assert events_purge() == 1
    assert list(Event.objects.values_list("idempotency_key", flat=True)) == ["b"]
    assert Delivery.objects.count() == 1


def test_events_show_their_mode_and_each_key_sees_its_own_mode_only(api, live_api, app):
    live = publish(app, "message.sent", {"id": "msg_1"}, idempotency_key="a", livemode=True)
    test = publish(app, "message.sent", {"id": "msg_2"}, idempotency_key="b", livemode=False)

    listed = {e["id"]: e["livemode"] for e in api.get("/v1/events").json()["data"]}
    assert listed == {test.id: False}  # every event has a mode (decision 0890): none is listed to both
    listed_live = {e["id"]: e["livemode"] for e in live_api.get("/v1/events").json()["data"]}
    assert listed_live == {live.id: True}
    assert [e["id"] for e in api.get("/v1/events?livemode=false").json()["data"]] == [test.id]
    assert api.get("/v1/events?livemode=true").json()["data"] == []
    assert [e["id"] for e in live_api.get("/v1/events?livemode=true").json()["data"]] == [live.id]
    assert live_api.get(f"/v1/events/{live.id}").json()["livemode"] is True
    assert api.get(f"/v1/events/{live.id}").status_code == 404
    bad = api.get("/v1/events?livemode=maybe")
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "livemode"


def test_an_endpoint_takes_the_mode_of_the_key_that_creates_it(api, live_api):
    test = api.post("/v1/webhook-endpoints", {"url": "https://hooks.example.com/t"}, format="json").json()
    live = live_api.post("/v1/webhook-endpoints", {"url": "https://hooks.example.com/l"}, format="json").json()
    assert (test["livemode"], live["livemode"]) == (False, True)
    # the mode is not a writable field
    patched = api.patch(f"/v1/webhook-endpoints/{test['id']}", {"livemode": True}, format="json")
    assert patched.status_code == 400


def test_operational_events_about_an_endpoint_stay_in_its_mode(app):
    from webhooks.services import endpoint_create, endpoint_disable

    live = endpoint_create(app_id=app.id, mode="live", url="https://hooks.example.com/l").endpoint
    test = endpoint_create(app_id=app.id, mode="test", url="https://hooks.example.com/t").endpoint
    endpoint_disable(endpoint_id=live.id, reason="gone")

    event = Event.objects.get(type="webhook_endpoint.disabled")
    assert event.livemode is True
    assert not Delivery.objects.filter(event=event, endpoint=test).exists()
