"""Submit: connectors per route, fail-over, refusals (submit.py)."""


import pytest
from django.utils import timezone

from cpaas.messaging import submit as submit_stage
from cpaas.messaging.dispatch import dispatch_batch
from cpaas.messaging.models import Connector, Message, Route
from cpaas.messaging.route import connector_for
from tests.messaging.conftest import send

pytestmark = pytest.mark.django_db


class Broken:
    def __init__(self, error):
        self.error = error
        self.calls = 0

    def submit(self, messages):
        from cpaas.carriers.base import SubmitResult

        self.calls += 1
        return [SubmitResult(m.message_id, error=self.error) for m in messages]


def test_a_route_that_is_down_fails_over_to_the_next(app, monkeypatch, live):
    from cpaas.carriers.base import CarrierError

    primary = Connector.objects.create(id="primary", kind="sandbox")
    backup = Connector.objects.create(id="backup", kind="sandbox")
    Route.objects.create(prefix="+1", priority=1, connector=primary)
    Route.objects.create(prefix="+1", priority=2, connector=backup)
    broken = Broken(CarrierError("down", code="carrier_unavailable"))
    real = connector_for
    monkeypatch.setattr(submit_stage, "connector_for", lambda name: broken if name == "primary" else real(name))
    message_id = send(live).json()["id"]
    dispatch_batch()
    message = Message.objects.get(pk=message_id)
    assert (message.status, message.connector) == ("delivered", "backup")
    assert broken.calls == 1


def test_a_rejection_fails_over_but_a_message_never_reaches_one_carrier_twice(app, monkeypatch, live):
    from cpaas.carriers.base import CarrierError

    only = Connector.objects.create(id="only", kind="sandbox")
    Route.objects.create(country="US", connector=only)
    broken = Broken(CarrierError("maybe", code="carrier_timeout", submitted=True))
    monkeypatch.setattr(submit_stage, "connector_for", lambda name: broken)
    message_id = send(live).json()["id"]
    dispatch_batch()
    message = Message.objects.get(pk=message_id)
    assert (message.status, message.error_code, message.tried_connectors) == ("failed", "carrier_timeout", ["only"])
    assert broken.calls == 1


def test_a_transient_failure_everywhere_keeps_the_message_for_the_sweeper(app, monkeypatch, live):
    from cpaas.carriers.base import CarrierError

    Route.objects.create(country="US", connector=Connector.objects.create(id="x", kind="sandbox"))
    monkeypatch.setattr(submit_stage, "connector_for", lambda name: Broken(CarrierError("down")))
    message_id = send(live).json()["id"]
    assert dispatch_batch()["retry"] == 1
    message = Message.objects.get(pk=message_id)
    assert message.status == "sending"
    assert message.lease_until > timezone.now()
    assert message.tried_connectors == []
