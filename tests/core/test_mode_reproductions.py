"""The five reproductions of issue 13, finding 1: a test key reached live data. Each is a 404 (or
a fresh request) now. Written with the models and services as they were, so they ran on main too."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from cpaas.messaging.models import Message
from cpaas.tenants.keys import api_key_create
from cpaas.tenants.models import ApiKey
from tests.conftest import client_for
from webhooks.models import Endpoint


@pytest.fixture
def world(provisioned):
    app, tenant = provisioned.app, provisioned.tenant
    live_key = api_key_create(app=app, name="live", mode="live")
    live = client_for(live_key.secret)
    message = Message.objects.create(tenant=tenant, app=app, mode="live", to="+15005550006", sender="+12025550100",
                                     body="live secret", encoding="gsm7", segments=1, status="scheduled",
                                     send_at=timezone.now() + timedelta(days=1))
    endpoint = live.post("/v1/webhook-endpoints", {"url": "https://hooks.example.com/live"}, format="json").json()
    return {"live": live, "test": client_for(provisioned.test_key.secret), "message_id": message.pk,
            "key_id": live_key.key.pk, "endpoint_id": endpoint["id"]}


def test_a_test_key_cannot_list_or_fetch_live_messages(world):
    test, message_id = world["test"], world["message_id"]
    assert message_id not in json.dumps(test.get("/v1/messages").json())
    assert test.get(f"/v1/messages/{message_id}").status_code == 404
    assert world["live"].get(f"/v1/messages/{message_id}").status_code == 200


def test_a_test_key_cannot_cancel_a_live_message(world):
    message_id = world["message_id"]
    assert world["test"].post(f"/v1/messages/{message_id}/cancel").status_code == 404
    assert Message.objects.get(pk=message_id).status == "scheduled"


def test_a_test_key_cannot_list_or_revoke_a_live_api_key(world):
    key_id = world["key_id"]
    listed = world["test"].get("/v1/api-keys").json()["data"]
    assert listed and {k["mode"] for k in listed} == {"test"}
    assert world["test"].get(f"/v1/api-keys/{key_id}").status_code == 404
    assert world["test"].delete(f"/v1/api-keys/{key_id}").status_code == 404
    assert ApiKey.objects.get(pk=key_id).revoked_at is None
    assert world["live"].get("/v1/me").status_code == 200


def test_a_test_key_cannot_patch_a_live_endpoint_or_rotate_and_read_its_secret(world):
    endpoint_id = world["endpoint_id"]
    before = Endpoint.objects.get(pk=endpoint_id)
    patched = world["test"].patch(f"/v1/webhook-endpoints/{endpoint_id}", {"url": "https://evil.example.com/"},
                                  format="json")
    rotated = world["test"].post(f"/v1/webhook-endpoints/{endpoint_id}/rotate-secret")
    assert (patched.status_code, rotated.status_code) == (404, 404)
    assert "whsec_" not in rotated.content.decode()
    after = Endpoint.objects.get(pk=endpoint_id)
    assert (after.url, after.secrets) == (before.url, before.secrets)


def test_an_idempotency_key_of_a_live_request_is_not_replayed_to_a_test_request(world):
    first = world["live"].post("/v1/webhook-endpoints", {"url": "https://hooks.example.com/a"}, format="json",
                               HTTP_IDEMPOTENCY_KEY="same-key")
    second = world["test"].post("/v1/webhook-endpoints", {"url": "https://hooks.example.com/a"}, format="json",
                                HTTP_IDEMPOTENCY_KEY="same-key")
    assert first.status_code == second.status_code == 201
    assert not second.has_header("Idempotent-Replayed")
    assert second.json()["secret"] != first.json()["secret"]
    assert (first.json()["livemode"], second.json()["livemode"]) == (True, False)
