"""SMS status callbacks are rows of the webhooks room's callback outbox: recorded with the status
change, signed with the app's SMS secret of the message's mode, sent through the egress, retried
with the same ``webhook-id`` and body, only for the statuses a message asked for; the SSRF corpus
refused when the send is accepted and again at connect."""

from __future__ import annotations

import json

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from standardwebhooks import Webhook

from cpaas.carriers.sandbox import connector as sandbox
from cpaas.core.egress import conf as egress_conf
from cpaas.messaging.announce import transition
from cpaas.messaging.dispatch import dispatch_batch
from cpaas.messaging.models import Message
from tests.messaging.conftest import send
from tests.support.ssrf import REFUSED_URLS, answer_names, is_refusal, loopback_urls
from webhooks.callback_models import Callback
from webhooks.callbacks import KICK_KEY, callbacks_deliver

pytestmark = pytest.mark.django_db
ALL_LOOPBACK = ["127.0.0.0/8", "::1/128", "0.0.0.0/32"]


def make_due() -> None:
    """As if the retry's wait had passed."""
    Callback.objects.filter(status="pending").update(next_attempt_at=timezone.now())


def types(message_id: str) -> list[str]:
    return sorted(row.type for row in Callback.objects.filter(idempotency_key__startswith=f"{message_id}:"))


def test_status_callbacks_are_signed_with_the_mode_s_secret_and_retried_until_they_succeed(api, receiver,
                                                                                           allow_loopback):
    secret = api.post("/v1/sms/settings", {}, format="json").json()["callback_secret"]  # the first write shows it
    receiver.answer("/sms", 500)
    message_id = send(api, status_callback=f"{receiver.base}/sms", to=sandbox.NO_RECEIPT).json()["id"]
    dispatch_batch()
    (row,) = Callback.objects.all()
    assert (row.type, row.channel, row.idempotency_key) == ("message.sent", "sms.test", f"{message_id}:sent")
    assert callbacks_deliver() == {"delivered": 0, "retrying": 1, "failed": 0}
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 500)
    receiver.answer("/sms", 204)
    make_due()
    assert callbacks_deliver() == {"delivered": 1, "retrying": 0, "failed": 0}
    (first_headers, first_body), (headers, body) = receiver.posted("/sms")
    assert first_headers["webhook-id"] == headers["webhook-id"] == row.id and first_body == body
    payload = Webhook(secret).verify(body, headers)
    assert (payload["id"], payload["type"], payload["data"]["id"], payload["data"]["status"]) == (
        row.id, "message.sent", message_id, "sent")
    assert callbacks_deliver() == {"delivered": 0, "retrying": 0, "failed": 0}


def test_a_post_dropped_after_the_request_was_read_is_retried_with_the_same_id_and_body(api, receiver,
                                                                                        allow_loopback):
    # The receiver read the whole request (and may have acted on it), then the connection closed
    # before any answer: the retry must say it is the same callback, so the receiver drops it.
    secret = api.post("/v1/sms/settings", {}, format="json").json()["callback_secret"]
    receiver.drop = 1
    send(api, status_callback=f"{receiver.base}/sms", to=sandbox.NO_RECEIPT)
    dispatch_batch()
    assert callbacks_deliver() == {"delivered": 0, "retrying": 1, "failed": 0}
    make_due()
    assert callbacks_deliver() == {"delivered": 1, "retrying": 0, "failed": 0}
    (first_headers, first_body), (retry_headers, retry_body) = receiver.posted("/sms")
    assert first_headers["webhook-id"] == retry_headers["webhook-id"]
    assert first_body == retry_body
    assert Webhook(secret).verify(retry_body, retry_headers)["type"] == "message.sent"


def test_a_live_message_s_callbacks_are_signed_with_the_live_secret(app, live_api, receiver, allow_loopback):
    secret = live_api.post("/v1/sms/settings", {}, format="json").json()["callback_secret"]
    message = Message.objects.create(
        tenant_id=app.tenant_id, app=app, mode="live", to="+12025550123", sender="Acme", body="hi",
        encoding="GSM-7", segments=1, status="sending", status_callback=f"{receiver.base}/sms")
    assert transition(message, "sent")
    (row,) = Callback.objects.all()
    assert row.channel == "sms"
    callbacks_deliver()
    ((headers, body),) = receiver.posted("/sms")
    assert Webhook(secret).verify(body, headers)["data"]["id"] == message.id


def test_final_only_callbacks_hear_of_the_final_status_alone(api, receiver, allow_loopback):
    final = send(api, status_callback=f"{receiver.base}/sms", status_callback_events="final",
                 to=sandbox.UNDELIVERED).json()
    every = send(api, status_callback=f"{receiver.base}/sms", to=sandbox.UNDELIVERED).json()
    assert final["status_callback_events"] == ["delivered", "undelivered", "failed", "canceled"]
    assert every["status_callback_events"] == ["queued", "sent", "delivered", "undelivered", "failed", "canceled"]
    dispatch_batch()
    assert Message.objects.get(pk=final["id"]).status == "undelivered"
    assert types(final["id"]) == ["message.undelivered"]
    assert types(every["id"]) == ["message.sent", "message.undelivered"]
    callbacks_deliver()
    statuses = sorted((json.loads(body)["data"]["id"], json.loads(body)["data"]["status"])
                      for _, body in receiver.posted("/sms"))
    assert statuses == sorted([(final["id"], "undelivered"), (every["id"], "sent"), (every["id"], "undelivered")])


def test_a_list_of_statuses_is_honoured_and_stored_in_lifecycle_order(api, receiver, allow_loopback):
    sent = send(api, status_callback=f"{receiver.base}/sms", status_callback_events=["failed", "sent"]).json()
    assert sent["status_callback_events"] == ["sent", "failed"]
    assert Message.objects.get(pk=sent["id"]).status_callback_events == ["sent", "failed"]
    assert api.get(f"/v1/messages/{sent['id']}").json()["status_callback_events"] == ["sent", "failed"]
    dispatch_batch()
    assert Message.objects.get(pk=sent["id"]).status == "delivered"
    assert types(sent["id"]) == ["message.sent"]


def test_a_canceled_scheduled_message_calls_back_canceled_when_it_asked_for_final(api, receiver, allow_loopback):
    send_at = (timezone.now() + timezone.timedelta(hours=1)).isoformat()
    message_id = send(api, status_callback=f"{receiver.base}/sms", status_callback_events="final",
                      send_at=send_at).json()["id"]
    assert api.post(f"/v1/messages/{message_id}/cancel").status_code == 200
    assert types(message_id) == ["message.canceled"]


@pytest.mark.parametrize("bad", ["bogus", "", [], ["delivered", "read"], ["sent", 3], 5, {"final": True}])
def test_bad_status_callback_events_are_a_400_naming_the_parameter(api, bad):
    response = send(api, status_callback="https://hooks.example.com/sms", status_callback_events=bad)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_request", "status_callback_events")
    batch = api.post("/v1/messages/batch", {"messages": [
        {"to": "+15005550000", "from": "Acme", "body": "ok"},
        {"to": "+15005550000", "from": "Acme", "body": "no", "status_callback_events": bad},
    ]}, format="json").json()
    assert (batch["data"][1]["error"]["code"], batch["data"][1]["error"]["param"]) == (
        "invalid_request", "messages[1].status_callback_events")
    assert Message.objects.count() == 1


def test_a_burst_of_single_sends_kicks_one_delivery_task_and_shares_connections(
        api, receiver, allow_loopback, django_capture_on_commit_callbacks):
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("webhooks")
    cache.delete(KICK_KEY)
    send_at = (timezone.now() + timezone.timedelta(hours=1)).isoformat()
    ids = [send(api, status_callback=f"{receiver.base}/sms", send_at=send_at).json()["id"] for _ in range(30)]
    for message in Message.objects.filter(pk__in=ids):  # thirty status changes, each committed on its own
        with django_capture_on_commit_callbacks(execute=True):
            assert transition(message, "canceled")
    assert broker.llen("webhooks") == 1  # the kicks coalesced into one delivery task
    broker.delete("webhooks")
    assert callbacks_deliver() == {"delivered": 30, "retrying": 0, "failed": 0}
    assert len(set(receiver.ports)) <= 8  # sent together, over a few kept-alive connections


def test_test_mode_messages_call_back_every_status_like_live_ones(api, receiver, allow_loopback):
    message_id = send(api, status_callback=f"{receiver.base}/sms", to=sandbox.FAILED_AT_SUBMIT).json()["id"]
    dispatch_batch()
    assert types(message_id) == ["message.failed"]
    message_id = send(api, status_callback=f"{receiver.base}/sms").json()["id"]
    dispatch_batch()
    assert types(message_id) == ["message.delivered", "message.sent"]


def test_a_redirect_is_a_failed_attempt_and_never_followed(api, receiver, allow_loopback):
    receiver.answer("/sms", 302, location="http://169.254.169.254/latest/meta-data/")
    send(api, status_callback=f"{receiver.base}/sms")
    dispatch_batch()
    rows = Callback.objects.count()  # one per status the message reached
    assert callbacks_deliver() == {"delivered": 0, "retrying": rows, "failed": 0}
    assert {(row.last_status_code, "not followed" in row.last_error) for row in Callback.objects.all()} == {
        (302, True)}
    assert [path for path, _, _ in receiver.received] == ["/sms"] * rows


@pytest.mark.parametrize("bad", REFUSED_URLS)
@pytest.mark.usefixtures("send_path")  # the Django view and the lean send path
def test_a_send_and_a_batch_item_refuse_the_corpus_as_status_callback(api, no_allow_list, resolver, bad):
    answer_names(resolver)
    response = send(api, status_callback=bad)
    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == ("url_not_allowed",
                                                                                     "status_callback")
    batch = api.post("/v1/messages/batch", {"messages": [
        {"to": "+15005550000", "from": "Acme", "body": "ok"},
        {"to": "+15005550000", "from": "Acme", "body": "no", "status_callback": bad},
    ]}, format="json").json()
    assert (batch["accepted"], batch["rejected"]) == (1, 1)
    assert (batch["data"][1]["error"]["code"], batch["data"][1]["error"]["param"]) == (
        "url_not_allowed", "messages[1].status_callback")
    assert Message.objects.count() == 1


def test_a_status_callback_that_is_not_an_http_url_stays_an_invalid_request(api):
    response = send(api, status_callback="ftp://hooks.example.com/sms")
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == ("invalid_request",
                                                                                     "status_callback")


def test_status_callbacks_never_reach_a_loopback_spelling(api, receiver, resolver, monkeypatch):
    # Accepted while the operator allowed loopback, posted after it stopped: the connect-time
    # check refuses every spelling, the receiver hears nothing, and nothing is retried.
    answer_names(resolver)
    monkeypatch.setattr(egress_conf, "ALLOWED_CIDRS", ALL_LOOPBACK)
    port = int(receiver.base.rsplit(":", 1)[1])
    urls = loopback_urls(port, "/sms")
    for url in urls:
        assert send(api, status_callback=url).status_code == 201, url
    dispatch_batch()
    monkeypatch.setattr(egress_conf, "ALLOWED_CIDRS", [])
    rows = Callback.objects.count()
    assert rows >= len(urls)
    assert callbacks_deliver() == {"delivered": 0, "retrying": 0, "failed": rows}
    assert receiver.received == []
    assert all(is_refusal(row.last_error) and row.status == "failed" for row in Callback.objects.all())
    assert callbacks_deliver() == {"delivered": 0, "retrying": 0, "failed": 0}


def test_the_openapi_schema_documents_status_callback_events(anon):
    schemas = json.loads(anon.get("/v1/openapi.json?format=json").content)["components"]["schemas"]
    field = schemas["SmsMessageInRequest"]["properties"]["status_callback_events"]
    assert field["oneOf"][0]["items"]["enum"] == ["queued", "sent", "delivered", "undelivered", "failed", "canceled"]
    assert field["oneOf"][1]["enum"] == ["all", "final"]
    listed = schemas["SmsMessageOut"]["properties"]["status_callback_events"]
    assert listed["type"] == "array" and listed["items"] == {"$ref": "#/components/schemas/StatusCallbackEventsEnum"}
