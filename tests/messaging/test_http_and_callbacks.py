import json

import httpx
import pytest

from cpaas.carriers.http import HttpConnector
from cpaas.messaging.connectors import connector_save
from cpaas.messaging.dispatch import dispatch_batch
from cpaas.messaging.models import Message, Route
from cpaas.tenants.keys import api_key_create
from tests.conftest import client_for
from tests.messaging.conftest import send
from webhooks.callback_models import Callback

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
    dispatch_batch()
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


def test_a_carrier_callback_with_a_nul_is_a_400_naming_it(upstream, client):
    response = client.post("/v1/carriers/up/receipts", b'[{"id": "up-\\u0000", "status": "delivered"}]',
                           content_type="application/json", HTTP_X_CALLBACK_TOKEN="tok")
    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == ("invalid_characters", "[0].id")


def test_a_live_message_s_final_only_callback_is_recorded_by_the_receipt_and_signed_live(upstream, client):
    live, _ = upstream
    message_id = send(live, to="+12025550123", status_callback="https://hooks.example.com/sms",
                      status_callback_events="final").json()["id"]
    dispatch_batch()
    assert not Callback.objects.exists()  # `sent` was not asked for
    client.post("/v1/carriers/up/receipts", [{"id": "up-1", "status": "delivered"}],
                content_type="application/json", HTTP_X_CALLBACK_TOKEN="tok")
    (row,) = Callback.objects.all()
    assert (row.type, row.channel, row.url) == ("message.delivered", "sms", "https://hooks.example.com/sms")
    assert json.loads(row.body)["data"]["id"] == message_id
