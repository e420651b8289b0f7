import pytest

from cpaas_sdk import verify_webhook
from tests.webhooks.conftest import Receiver, _fresh_kick_throttle, dispatcher, run  # noqa: F401 (fixtures)
from webhooks import publish, services


@pytest.fixture
def hook_receiver(allow_loopback):
    server = Receiver()
    yield server
    server.close()


def test_endpoints_deliveries_replay_and_the_verification_helper(client, hook_receiver, dispatcher, monkeypatch):  # noqa: F811 (the imported fixture)
    monkeypatch.setattr(services, "dispatch_kick", lambda: None)  # the test runs the dispatcher itself
    endpoint = client.webhook_endpoints.create(url=hook_receiver.url("/ok"), event_types=["message.sent"])
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.id in [e.id for e in client.webhook_endpoints.list()]
    assert client.webhook_endpoints.update(endpoint.id, description="ci").description == "ci"
    assert client.webhook_endpoints.retrieve(endpoint.id).description == "ci"

    client.webhook_endpoints.test(endpoint.id)
    run(dispatcher)
    (request,) = hook_receiver.requests
    event = verify_webhook(request["body"], request["headers"], secret=endpoint.secret)
    assert event["id"] == request["headers"]["webhook-id"]

    (delivery,) = client.webhook_deliveries.list(endpoint.id)
    assert client.webhook_deliveries.retrieve(endpoint.id, delivery.id).id == delivery.id
    client.webhook_deliveries.retry(endpoint.id, delivery.id)
    run(dispatcher)
    assert len(hook_receiver.requests) == 2
    assert hook_receiver.requests[1]["headers"]["webhook-id"] == event["id"]  # a replay keeps its id

    rotated = client.webhook_endpoints.rotate_secret(endpoint.id)
    assert rotated.secret != endpoint.secret
    recovered = client.webhook_endpoints.recover(endpoint.id, since="2026-01-01T00:00:00Z", dry_run=True)
    assert recovered.object
    client.webhook_endpoints.delete(endpoint.id)


def test_events_and_event_types(client, app, monkeypatch):
    monkeypatch.setattr(services, "dispatch_kick", lambda: None)
    client_app = app
    types = [t.type for t in client.event_types.list()]
    assert "message.sent" in types
    event = publish(client_app, "message.sent", {"id": "msg_1"}, idempotency_key="sdk-events", livemode=False)
    assert client.events.retrieve(event.id).type == "message.sent"
    assert event.id in [e.id for e in client.events.list(type="message.sent")]
