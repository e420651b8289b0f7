import pytest
from django.test import Client

from tests.webhooks.conftest import run
from webhooks import publish
from webhooks.models import Delivery
from webhooks.services import endpoint_disable


@pytest.fixture
def console(provisioned):
    client = Client()
    client.force_login(provisioned.user)
    return client


def test_the_console_lists_endpoints_with_a_disabled_notice(console, make_endpoint):
    endpoint = make_endpoint("https://hooks.example.com/x").endpoint
    endpoint_disable(endpoint_id=endpoint.id, reason="gone")
    page = console.get("/console/webhooks/")
    assert page.status_code == 200
    assert b"https://hooks.example.com/x" in page.content
    assert b"410 Gone" in page.content


def test_the_console_shows_deliveries_with_attempts_and_the_signed_request(console, app, receiver, dispatcher,
                                                                           make_endpoint):
    endpoint = make_endpoint(receiver.url("/status/500")).endpoint
    publish(app, "message.sent", {"id": "msg_1"}, idempotency_key="k", livemode=False)
    run(dispatcher)
    page = console.get(f"/console/webhooks/{endpoint.id}")
    assert page.status_code == 200
    assert b"HTTP 500" in page.content
    assert b"webhook-signature: v1," in page.content


def test_the_console_retry_and_recover_buttons_work(console, app, make_endpoint):
    endpoint = make_endpoint("https://hooks.example.com/x").endpoint
    publish(app, "message.sent", {"id": "msg_1"}, idempotency_key="k", livemode=False)
    Delivery.objects.update(status="failed", next_attempt_at=None)
    delivery = Delivery.objects.get()
    response = console.post(f"/console/webhooks/{endpoint.id}/recover", {"since": "2020-01-01T00:00", "dry_run": "1"})
    assert response.status_code == 302
    assert Delivery.objects.get().status == "failed"
    console.post(f"/console/webhooks/{endpoint.id}/deliveries/{delivery.id}/retry")
    assert Delivery.objects.get().status == "pending"


def test_another_tenant_s_endpoint_is_not_in_the_console(other_provisioned, make_endpoint):
    endpoint = make_endpoint("https://hooks.example.com/x").endpoint
    client = Client()
    client.force_login(other_provisioned.user)
    assert client.get(f"/console/webhooks/{endpoint.id}").status_code == 404
    assert b"hooks.example.com" not in client.get("/console/webhooks/").content
