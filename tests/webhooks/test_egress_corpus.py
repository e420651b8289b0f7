"""Webhook deliveries and one-off callbacks (voice status callbacks) against the SSRF corpus at
connect time, on loopback only: every loopback spelling is refused and the receiver hears nothing."""

from __future__ import annotations

from django.db import transaction

from cpaas.core.egress import conf as egress_conf
from tests.support.ssrf import answer_names, is_refusal, loopback_urls
from tests.webhooks.conftest import run
from webhooks import publish, send_callback
from webhooks.callback_models import Callback
from webhooks.callbacks import callbacks_deliver, register_signer
from webhooks.models import Attempt

SECRET = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ="
ALL_LOOPBACK = ["127.0.0.0/8", "::1/128", "0.0.0.0/32"]


def test_endpoint_deliveries_never_reach_a_loopback_spelling(app, receiver, dispatcher, make_endpoint,
                                                             resolver, monkeypatch):
    answer_names(resolver)
    monkeypatch.setattr(egress_conf, "ALLOWED_CIDRS", ALL_LOOPBACK)  # saved while allowed …
    urls = loopback_urls(receiver.port, "/ok")
    for url in urls:
        make_endpoint(url)
    monkeypatch.setattr(egress_conf, "ALLOWED_CIDRS", [])  # … sent once it is not
    publish(app, "message.sent", {"id": "msg_1"}, idempotency_key="k", livemode=False)
    run(dispatcher)
    assert receiver.requests == []
    errors = list(Attempt.objects.values_list("error", flat=True))
    assert len(errors) == len(urls)
    assert all(error.startswith("blocked:") and is_refusal(error) for error in errors), errors


def test_callbacks_to_one_off_urls_never_reach_a_loopback_spelling(app, receiver, resolver, monkeypatch):
    answer_names(resolver)
    register_signer("test", lambda app_id: [SECRET])
    monkeypatch.setattr(egress_conf, "ALLOWED_CIDRS", [])
    urls = loopback_urls(receiver.port, "/status")
    with transaction.atomic():
        for index, url in enumerate(urls):
            send_callback(app, url, "thing.happened", {"n": index}, idempotency_key=f"k{index}", channel="test")
    assert callbacks_deliver() == {"delivered": 0, "retrying": 0, "failed": len(urls)}
    assert receiver.requests == []
    assert all(is_refusal(error) for error in Callback.objects.values_list("last_error", flat=True))
