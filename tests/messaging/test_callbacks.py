"""SMS status callbacks leave through the egress: signed, retried, and never to a refused address
(the SSRF corpus, on loopback only), checked when the send is accepted and again at connect."""

from __future__ import annotations

import pytest
from standardwebhooks import Webhook

from cpaas.core.egress import conf as egress_conf
from cpaas.messaging import callbacks, conf
from cpaas.messaging.dispatch import dispatch_batch
from cpaas.messaging.models import Message, StatusCallback
from tests.messaging.conftest import send
from tests.support.ssrf import REFUSED_URLS, answer_names, is_refusal, loopback_urls

pytestmark = pytest.mark.django_db
ALL_LOOPBACK = ["127.0.0.0/8", "::1/128", "0.0.0.0/32"]


def test_status_callbacks_are_signed_and_retried_until_they_succeed(api, receiver, allow_loopback):
    secret = api.post("/v1/sms/settings", {}, format="json").json()["callback_secret"]  # the first write shows it
    receiver.answer("/sms", 500)
    message_id = send(api, status_callback=f"{receiver.base}/sms", to="+15005550005").json()["id"]
    dispatch_batch()
    (row,) = StatusCallback.objects.filter(message_id=message_id)
    assert row.payload["type"] == "message.sent"
    assert callbacks.callbacks_deliver() == {"delivered": 0, "failed": 1}
    row.refresh_from_db()
    assert (row.attempts, row.last_status, row.delivered_at) == (1, 500, None)
    receiver.answer("/sms", 204)
    StatusCallback.objects.filter(pk=row.pk).update(next_attempt_at=row.created_at)
    assert callbacks.callbacks_deliver() == {"delivered": 1, "failed": 0}
    headers, body = receiver.posted("/sms")[-1]
    payload = Webhook(secret).verify(body, headers)
    assert payload["data"]["id"] == message_id
    assert callbacks.callbacks_deliver() == {"delivered": 0, "failed": 0}


def test_a_redirect_is_a_failed_attempt_and_never_followed(api, receiver, allow_loopback):
    receiver.answer("/sms", 302, location="http://169.254.169.254/latest/meta-data/")
    send(api, status_callback=f"{receiver.base}/sms")
    dispatch_batch()
    rows = StatusCallback.objects.count()  # one per status the message reached
    assert callbacks.callbacks_deliver() == {"delivered": 0, "failed": rows}
    assert {(row.last_status, "not followed" in row.last_error) for row in StatusCallback.objects.all()} == {
        (302, True)}
    assert [path for path, _, _ in receiver.received] == ["/sms"] * rows


@pytest.mark.parametrize("bad", REFUSED_URLS)
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
    rows = list(StatusCallback.objects.all())
    assert len(rows) >= len(urls)
    assert callbacks.callbacks_deliver() == {"delivered": 0, "failed": len(rows)}
    assert receiver.received == []
    rows = list(StatusCallback.objects.all())
    assert all(is_refusal(row.last_error) and row.attempts == conf.CALLBACK_MAX_ATTEMPTS for row in rows)
    assert callbacks.callbacks_deliver() == {"delivered": 0, "failed": 0}
