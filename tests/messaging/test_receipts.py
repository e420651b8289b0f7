"""Receipts: applied forward only, orphans parked and adopted (receipts.py)."""


import pytest

from cpaas.carriers.base import DeliveryReceipt
from cpaas.carriers.sandbox import connector as sandbox
from cpaas.messaging.claim import claim_queued
from cpaas.messaging.dispatch import dispatch_batch
from cpaas.messaging.models import Message, ReceiptOrphan
from cpaas.messaging.receipts import orphans_adopt, receipts_apply
from cpaas.messaging.settle import settle
from cpaas.messaging.sink import MessagingSink
from tests.messaging.conftest import events_of, send

pytestmark = pytest.mark.django_db


def test_late_and_doubled_receipts_change_nothing(api):
    message_id = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    dispatch_batch()
    message = Message.objects.get(pk=message_id)
    receipt = DeliveryReceipt("sandbox", message.carrier_message_id, "delivered")
    assert receipts_apply([receipt])["applied"] == 1
    assert receipts_apply([receipt])["ignored"] == 1
    assert receipts_apply([DeliveryReceipt("sandbox", message.carrier_message_id, "undelivered")])[
        "ignored"] == 1
    message.refresh_from_db()
    assert (message.status, message.sequence) == ("delivered", 4)
    assert len(events_of("message.delivered", message_id)) == 1


def test_a_receipt_that_outruns_the_submit_waits_and_is_applied(api):
    message_id = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    receipts_apply([DeliveryReceipt("sandbox", "sbx-early", "delivered")])
    assert ReceiptOrphan.objects.count() == 1
    claimed = claim_queued(10)
    settle(claimed, accepted={message_id: ("sandbox", "sbx-early")}, failed={}, retry_later=[])
    assert Message.objects.get(pk=message_id).status == "delivered"
    assert ReceiptOrphan.objects.count() == 0


def test_an_orphan_that_missed_its_settle_is_adopted_later(api):
    message_id = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    dispatch_batch()
    carrier_id = Message.objects.get(pk=message_id).carrier_message_id
    ReceiptOrphan.objects.create(connector="sandbox", carrier_message_id=carrier_id, status="delivered")
    ReceiptOrphan.objects.create(connector="sandbox", carrier_message_id="sbx-unknown", status="delivered")
    assert orphans_adopt() == 1
    assert Message.objects.get(pk=message_id).status == "delivered"
    assert list(ReceiptOrphan.objects.values_list("carrier_message_id", flat=True)) == ["sbx-unknown"]


def test_a_receipt_ahead_of_its_submit_is_parked_at_once_and_applied_when_the_submit_settles(api):
    """Never held only in memory: the SMSC already has its deliver_sm_resp."""
    message_id = send(api).json()["id"]
    sink = MessagingSink()
    sink.receipt(DeliveryReceipt("sandbox", "sbx-ahead", "delivered"))
    sink.flush()
    assert ReceiptOrphan.objects.count() == 1
    Message.objects.filter(pk=message_id).update(status="sent", connector="sandbox", carrier_message_id="sbx-ahead")
    orphans_adopt()
    assert (Message.objects.get(pk=message_id).status, ReceiptOrphan.objects.count()) == ("delivered", 0)


# --- receipts held for their own settle (decision 0410) -------------------------------------------


def test_a_flush_of_hundreds_of_receipts_applies_each_once(api):
    """More than 100 (connector, carrier id) pairs in one lookup (the planner's literal-list limit)."""
    from copy import copy

    first = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    dispatch_batch()
    template = Message.objects.get(pk=first)
    clones = []
    for i in range(149):
        clone = copy(template)
        clone.id, clone.carrier_message_id = f"{first}{i:03d}", f"sbx-many-{i}"
        clones.append(clone)
    Message.objects.bulk_create(clones)
    ids = [first, *(clone.id for clone in clones)]
    carrier_ids = Message.objects.filter(pk__in=ids).values_list("carrier_message_id", flat=True)
    receipts = [DeliveryReceipt("sandbox", carrier_id, "delivered") for carrier_id in carrier_ids]
    assert receipts_apply(receipts + receipts[:5])["applied"] == 150
    assert Message.objects.filter(pk__in=ids, status="delivered").count() == 150
    assert receipts_apply(receipts)["ignored"] == 150


def test_adoptable_orphans_are_found_behind_many_that_never_will_be(api):
    ReceiptOrphan.objects.bulk_create([ReceiptOrphan(connector="sandbox", carrier_message_id=f"sbx-never-{i}",
                                                     status="delivered") for i in range(30)])
    message_id = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    dispatch_batch()
    carrier_id = Message.objects.get(pk=message_id).carrier_message_id
    ReceiptOrphan.objects.create(connector="sandbox", carrier_message_id=carrier_id, status="delivered")
    assert orphans_adopt(limit=10) == 1
    assert Message.objects.get(pk=message_id).status == "delivered"
    assert ReceiptOrphan.objects.count() == 30
