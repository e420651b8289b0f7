"""The sink connectors push into: held, waiting and released receipts (sink.py)."""


import pytest

from cpaas.carriers.base import DeliveryReceipt
from cpaas.carriers.sandbox import connector as sandbox
from cpaas.messaging import infra
from cpaas.messaging import sink as sink_stage
from cpaas.messaging.claim import claim_queued
from cpaas.messaging.dispatch import dispatch_batch
from cpaas.messaging.models import Message, ReceiptOrphan
from cpaas.messaging.receipts import receipts_apply
from cpaas.messaging.settle import settle
from cpaas.messaging.sink import MessagingSink
from tests.messaging.conftest import send

pytestmark = pytest.mark.django_db


def test_a_delayed_receipt_arrives_through_its_task(api, monkeypatch):
    from cpaas.messaging import tasks

    scheduled = []
    monkeypatch.setattr(sink_stage, "task_send",
                        lambda name, args, countdown: scheduled.append((name, args, countdown)))
    message_id = send(api, to=sandbox.DELIVERED_AFTER_DELAY).json()["id"]
    dispatch_batch()
    assert Message.objects.get(pk=message_id).status == "sent"
    (name, args, countdown), = scheduled
    assert name == tasks.apply_receipt.name
    assert countdown == 5
    tasks.apply_receipt(*args)
    assert Message.objects.get(pk=message_id).status == "delivered"


def test_a_receipt_for_a_submit_nobody_announced_still_takes_the_orphan_path(api):
    sink = MessagingSink()
    sink.receipt(DeliveryReceipt("sandbox", "sbx-unannounced", "delivered"))
    sink.flush()
    assert ReceiptOrphan.objects.count() == 1
    assert sink.held == {}


def test_a_held_receipt_whose_settle_never_comes_is_released_to_the_database_path(api, monkeypatch):
    sink = MessagingSink()
    sink.submitted("sandbox", "sbx-stuck")
    sink.receipt(DeliveryReceipt("sandbox", "sbx-stuck", "delivered"))
    sink.flush()
    assert list(sink.held) == [("sandbox", "sbx-stuck")]
    monkeypatch.setattr(MessagingSink, "HOLD_SECONDS", 0.0)
    sink._last_expiry = 0.0
    sink.flush()
    assert sink.held == {} and sink.expected == {}
    assert ReceiptOrphan.objects.filter(carrier_message_id="sbx-stuck").count() == 1


def test_a_receipt_read_before_its_submit_answer_waits_one_flush_for_the_announcement(api):
    """The bind can hand us the receipt before the coroutine that got its submit_sm_resp runs."""
    sink = MessagingSink()
    sink.submitted("sandbox", "sbx-other")  # a submit of this process is in flight
    sink.receipt(DeliveryReceipt("sandbox", "sbx-early-answer", "delivered"))
    sink.flush()
    assert ReceiptOrphan.objects.count() == 0
    assert infra.receipts_journal_read([("sandbox", "sbx-early-answer")])  # journaled while it waits
    sink.submitted("sandbox", "sbx-early-answer")
    sink.flush()
    assert list(sink.held) == [("sandbox", "sbx-early-answer")]
    assert [r.carrier_message_id for r in sink.take([("sandbox", "sbx-early-answer")])] == ["sbx-early-answer"]


def test_a_waiting_receipt_never_announced_is_parked_and_its_journal_entry_dropped(api):
    sink = MessagingSink()
    sink.submitted("sandbox", "sbx-other")
    sink.receipt(DeliveryReceipt("sandbox", "sbx-foreign", "delivered"))
    sink.flush()
    sink.flush()
    assert ReceiptOrphan.objects.filter(carrier_message_id="sbx-foreign").count() == 1
    assert infra.receipts_journal_read([("sandbox", "sbx-foreign")]) == {}
    assert sink.waiting == []


def test_a_flush_whose_database_write_fails_keeps_its_receipts_for_the_next(api, monkeypatch):
    message_id = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    claimed = claim_queued(10)
    key = ("sandbox", "sbx-flush-fails")
    settle(claimed, accepted={message_id: key}, failed={}, retry_later=[])
    sink = MessagingSink()
    sink.release([DeliveryReceipt(*key, "delivered")])
    real_apply = receipts_apply

    def down(receipts):
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(sink_stage, "receipts_apply", down)
    with pytest.raises(RuntimeError):
        sink.flush()
    assert Message.objects.get(pk=message_id).status == "sent"
    monkeypatch.setattr(sink_stage, "receipts_apply", real_apply)
    sink.flush()
    assert Message.objects.get(pk=message_id).status == "delivered"
