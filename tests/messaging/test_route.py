"""Routing: which connectors may carry a message (route.py)."""


import pytest

from cpaas.messaging.models import Connector, Message, Route
from cpaas.messaging.route import route_candidates

pytestmark = pytest.mark.django_db


def test_app_routes_beat_platform_routes_and_longer_prefixes_win(app):
    a = Connector.objects.create(id="a", kind="sandbox")
    b = Connector.objects.create(id="b", kind="sandbox")
    c = Connector.objects.create(id="c", kind="sandbox")
    Route.objects.create(prefix="+1", connector=a)
    Route.objects.create(prefix="+1202", connector=b)
    Route.objects.create(app=app, country="US", connector=c)
    message = Message(app_id=app.id, mode="live", to="+12025550123", country="US")
    assert route_candidates(message) == ["c", "b", "a"]
    other = Message(app_id="app_other", mode="live", to="+12025550123", country="US")
    assert route_candidates(other) == ["b", "a"]
    assert route_candidates(Message(app_id=app.id, mode="test", to="+1202")) == ["sandbox"]
