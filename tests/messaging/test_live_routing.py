"""Live traffic never touches the sandbox: no live route is a 400 ``no_route`` at send time, or
``failed`` with ``no_route`` when the route is gone by the time the dispatcher decides."""

from __future__ import annotations

import pytest

from cpaas.messaging.dispatch import dispatch_batch
from cpaas.messaging.models import Connector, Message, Route
from cpaas.messaging.route import route_candidates, routing_reset
from tests.messaging.conftest import send


@pytest.mark.usefixtures("send_path")  # the Django view and the lean send path
def test_a_live_send_without_a_live_route_is_a_400_no_route(live):
    response = send(live, to="+12025550123")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"], error["type"]) == ("no_route", "to", "invalid_request_error")
    assert not Message.objects.exists()


def test_a_route_to_the_sandbox_never_carries_live_traffic(live):
    Route.objects.create(prefix="+1", connector=Connector.objects.create(id="sandbox", kind="sandbox"))
    assert send(live).json()["error"]["code"] == "no_route"
    assert send(live, to="+12025550123").status_code == 400


def test_a_live_message_whose_route_is_gone_fails_with_no_route_instead_of_the_sandbox(live, api):
    route = Route.objects.create(prefix="+1", connector=Connector.objects.create(id="carrier", kind="sandbox"))
    message_id = send(live).json()["id"]
    test_id = send(api).json()["id"]
    route.delete()
    routing_reset()
    dispatch_batch()
    live_message = Message.objects.get(pk=message_id)
    assert (live_message.status, live_message.error_code) == ("failed", "no_route")
    assert "sandbox" not in live_message.tried_connectors and live_message.connector != "sandbox"
    assert Message.objects.get(pk=test_id).status == "delivered"  # test traffic still uses the sandbox


def test_live_routing_has_no_sandbox_fallback(app):
    message = Message(app_id=app.id, mode="live", to="+12025550123", country="US")
    assert route_candidates(message) == []
