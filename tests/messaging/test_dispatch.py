"""Dispatch: a queued message claimed, submitted and settled (dispatch.py)."""

import itertools

import pytest

from cpaas.carriers.sandbox import connector as sandbox
from cpaas.messaging import states
from cpaas.messaging.dispatch import dispatch_batch
from cpaas.messaging.models import Connector, Message, Status
from tests.messaging.conftest import events_for, events_of, send

pytestmark = pytest.mark.django_db


def test_the_transition_table_only_moves_forward():
    order = ["scheduled", "queued", "sending", "sent", "delivered"]
    for current, new in itertools.product(Status.values, Status.values):
        allowed = states.can_move(current, new)
        if current in states.FINAL:
            assert not allowed, (current, new)
        if current in order and new in order and order.index(new) <= order.index(current):
            assert not allowed, (current, new)
    assert states.can_move("queued", "sending")
    assert states.can_move("sent", "undelivered")
    assert not states.can_move("delivered", "undelivered")
    assert not states.can_move("undelivered", "delivered")
    assert set(states.allowed_from("canceled")) == {"scheduled", "queued"}


def test_a_dispatch_sends_queued_messages_and_the_sandbox_delivers_them(api, contracts):
    ids = [send(api, to="+15005550000", body=f"m{i}").json()["id"] for i in range(3)]
    counts = dispatch_batch()
    assert counts["claimed"] == 3
    assert counts["sent"] == 3
    for message_id in ids:
        message = Message.objects.get(pk=message_id)
        assert message.status == "delivered"
        assert message.connector == "sandbox"
        assert message.carrier_message_id.startswith("sbx-")
        assert message.sent_at and message.delivered_at
        assert events_for(message_id) == [("message.sent", 3), ("message.delivered", 4)]
    assert [u.meter for u in contracts.usage] == ["sms_segments"] * 3
    assert contracts.usage[0].dimensions["country"] == "US"
    assert contracts.usage[0].quantity == 1


def test_running_dispatch_twice_sends_once(api, contracts):
    message_id = send(api).json()["id"]
    dispatch_batch()
    assert dispatch_batch()["claimed"] == 0
    assert len(events_of("message.sent", message_id)) == 1
    assert len(contracts.usage) == 1


def test_each_magic_number_gives_its_outcome(api, settings):
    Connector.objects.create(id="sandbox", kind="sandbox", config={"delay_seconds": 0.0001})
    outcomes = {}
    for number in (sandbox.DELIVERED, sandbox.UNDELIVERED, sandbox.FAILED_AT_SUBMIT, sandbox.NO_RECEIPT):
        outcomes[number] = send(api, to=number).json()["id"]
    dispatch_batch()
    status = {number: Message.objects.get(pk=mid) for number, mid in outcomes.items()}
    assert status[sandbox.DELIVERED].status == "delivered"
    undelivered = status[sandbox.UNDELIVERED]
    assert (undelivered.status, undelivered.error_code) == ("undelivered", "unreachable")
    assert (status[sandbox.FAILED_AT_SUBMIT].status, status[sandbox.FAILED_AT_SUBMIT].error_code) == \
        ("failed", "invalid_destination")
    assert status[sandbox.NO_RECEIPT].status == "sent"
    assert events_for(outcomes[sandbox.FAILED_AT_SUBMIT]) == [("message.failed", 3)]


def test_a_canceled_message_is_never_sent(api):
    message_id = send(api).json()["id"]
    assert api.post(f"/v1/messages/{message_id}/cancel").json()["status"] == "canceled"
    assert dispatch_batch()["claimed"] == 0
    assert events_for(message_id) == [("message.canceled", 2)]
