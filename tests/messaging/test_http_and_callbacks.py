import json

import httpx
import pytest
from standardwebhooks import Webhook

from cpaas.carriers.http.connector import HttpConnector
from cpaas.messaging import callbacks, pipeline
from cpaas.messaging.connectors import connector_save
from cpaas.messaging.models import Message, Route, StatusCallback
from cpaas.tenants.keys import api_key_create
from tests.conftest import client_for
from tests.messaging.conftest import send

pytestmark = pytest.mark.django_db


@pytest.fixture
def upstream(app, monkeypatch):
    posted = []

    def handler(request):
        posted.append(json.loads(request.content))
        return httpx.Response(200, json={"id": f"up-{len(posted)}"})

    monkeypatch.setattr(HttpConnector, "transport", httpx.MockTransport(handler))
    Route.objects.create(prefix="+1", connector=connector_save(
        id="up", kind="http", config={"url": "https://up.test/sms", "callback_token": "tok"})[0])
    live = client_for(api_key_create(app=app, name="live", mode="live").secret)
    live.post("/v1/sms/settings", {"allowed_countries": ["US"]}, format="json")
    return live, posted


def test_a_message_routes_through_an_http_upstream_and_its_callback_delivers_it(upstream, client):
    live, posted = upstream
    message_id = send(live, to="+12025550123").json()["id"]
    pipeline.dispatch_batch()
    assert posted == [{"to": "+12025550123", "from": "Acme", "text": "Hello"}]
    assert Message.objects.get(pk=message_id).status == "sent"
    response = client.post("/v1/carriers/up/receipts", [{"id": "up-1", "status": "delivered"}],
                           content_type="application/json", HTTP_X_CALLBACK_TOKEN="tok")
    assert response.status_code == 200
    assert Message.objects.get(pk=message_id).status == "delivered"


def test_the_receipt_endpoint_wants_the_token(upstream, client):
    response = client.post("/v1/carriers/up/receipts", [], content_type="application/json",
                           HTTP_X_CALLBACK_TOKEN="wrong")
    assert response.status_code == 401
    assert client.post("/v1/carriers/nope/receipts", [], content_type="application/json").status_code == 404


def test_status_callbacks_are_signed_and_retried_until_they_succeed(api, app, monkeypatch):
    answers = iter([500, 204])
    seen = []
    secret = api.post("/v1/sms/settings", {}, format="json").json()["callback_secret"]  # the first write shows it

    def handler(request):
        seen.append(request)
        return httpx.Response(next(answers))

    monkeypatch.setattr(callbacks, "_client", httpx.Client(transport=httpx.MockTransport(handler)))
    message_id = send(api, status_callback="https://hooks.test/sms", to="+15005550005").json()["id"]
    pipeline.dispatch_batch()
    (row,) = StatusCallback.objects.filter(message_id=message_id)
    assert row.payload["type"] == "message.sent"
    assert callbacks.callbacks_deliver() == {"delivered": 0, "failed": 1}
    row.refresh_from_db()
    assert (row.attempts, row.last_status, row.delivered_at) == (1, 500, None)
    StatusCallback.objects.filter(pk=row.pk).update(next_attempt_at=row.created_at)
    assert callbacks.callbacks_deliver() == {"delivered": 1, "failed": 0}
    payload = Webhook(secret).verify(seen[-1].content, dict(seen[-1].headers))
    assert payload["data"]["id"] == message_id
    assert callbacks.callbacks_deliver() == {"delivered": 0, "failed": 0}
