"""The spine across rooms: an SMS sent through the API reaches the tenant's webhook endpoint as
signed `message.sent` and `message.delivered` events, carried by real Celery workers."""

import json
import time

import pytest
from standardwebhooks import Webhook

from cpaas.core.egress import conf
from tests.conftest import client_for
from tests.support.worker import celery_worker
from tests.webhooks.conftest import Receiver


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_sent_sms_arrives_as_signed_webhooks(monkeypatch):
    from cpaas.tenants.services import tenant_provision

    monkeypatch.setattr(conf, "ALLOWED_CIDRS", ["127.0.0.0/8"])
    monkeypatch.setenv("EGRESS_ALLOWED_CIDRS", "127.0.0.0/8")  # for the worker processes
    receiver = Receiver()
    try:
        api = client_for(tenant_provision(name="Spine").test_key.secret)
        endpoint = api.post("/v1/webhook-endpoints", {
            "url": receiver.url("/hooks"), "event_types": ["message.sent", "message.delivered"],
        }, format="json").json()
        number = api.post("/v1/numbers", {}, format="json").json()["number"]
        with celery_worker(queues="default,sms,webhooks", concurrency=2):
            sent = api.post("/v1/messages", {"from": number, "to": "+15005550000", "body": "Hello"},
                            format="json", HTTP_IDEMPOTENCY_KEY="spine-1")
            assert sent.status_code == 201, sent.json()
            message_id = sent.json()["id"]

            def received_types():
                return {json.loads(r["body"])["type"] for r in list(receiver.requests)}

            deadline = time.monotonic() + 60
            while received_types() != {"message.sent", "message.delivered"}:
                assert time.monotonic() < deadline, f"only received {received_types()}"
                time.sleep(0.2)
    finally:
        receiver.close()

    verifier = Webhook(endpoint["secret"])
    for request in receiver.requests:
        payload = verifier.verify(request["body"], request["headers"])
        assert payload["data"]["id"] == message_id
    assert api.get(f"/v1/messages/{message_id}").json()["status"] == "delivered"
