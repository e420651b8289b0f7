"""Settle: one transaction per batch, prices, and receipts that outran it (settle.py)."""


import pytest
from django.utils import timezone

from cpaas.carriers.base import DeliveryReceipt
from cpaas.carriers.sandbox import connector as sandbox
from cpaas.messaging import infra
from cpaas.messaging import sink as sink_stage
from cpaas.messaging.claim import claim_queued
from cpaas.messaging.dispatch import dispatch_batch
from cpaas.messaging.models import Message, ReceiptOrphan
from cpaas.messaging.settle import settle
from cpaas.messaging.sink import MessagingSink
from tests.messaging.conftest import events_for, events_of, send

pytestmark = pytest.mark.django_db


def test_a_submitted_message_shows_its_rated_price_and_the_estimate_too(api, app):
    from decimal import Decimal

    from billing.plans import plan_assign, plan_create

    version = plan_create(code="sms", name="SMS", currency="usd", charges=[
        {"meter": "sms_segments", "model": "per_unit", "unit_price": "0.0075"}])
    plan_assign(tenant_id=app.tenant_id, version=version, effective_from=timezone.now().date().replace(day=1))
    body = "x" * 200  # two GSM-7 segments
    sent = send(api, to="+15005550000", body=body).json()
    assert (sent["price"], sent["currency"]) == (None, None)  # not rated before it is submitted
    dispatch_batch()
    shown = api.get(f"/v1/messages/{sent['id']}").json()
    assert (shown["segments"], shown["price"], shown["currency"]) == (2, "0.015000", "USD")
    assert Message.objects.get(pk=sent["id"]).price == Decimal("0.015")
    estimate = api.post("/v1/messages/estimate", {"to": "+15005550000", "body": body}, format="json").json()
    assert (estimate["price"], estimate["currency"]) == ("0.015000", "USD")


def test_a_rating_is_reused_for_a_few_seconds_without_asking_billing_again(api, app, monkeypatch):
    from decimal import Decimal

    from billing.plans import plan_assign, plan_create
    from cpaas.messaging import pricing

    version = plan_create(code="sms-cache", name="SMS", currency="usd", charges=[
        {"meter": "sms_segments", "model": "per_unit", "unit_price": "0.0075"}])
    plan_assign(tenant_id=app.tenant_id, version=version, effective_from=timezone.now().date().replace(day=1))
    asked = []
    real_rate = pricing.rate
    monkeypatch.setattr(pricing, "rate", lambda *key: asked.append(key) or real_rate(*key))
    for _ in range(2):
        send(api, to="+15005550000")
        dispatch_batch()
    assert len(asked) == 1
    assert set(Message.objects.filter(app=app).values_list("price", flat=True)) == {Decimal("0.0075")}
    monkeypatch.setattr(pricing, "CACHE_SECONDS", 0.0)
    send(api, to="+15005550000")
    dispatch_batch()
    assert len(asked) == 2


def test_without_a_plan_the_price_stays_null(api):
    sent = send(api, to="+15005550000").json()
    dispatch_batch()
    shown = api.get(f"/v1/messages/{sent['id']}").json()
    assert (shown["status"], shown["price"], shown["currency"]) == ("delivered", None, None)


def test_a_receipt_held_for_its_settle_is_applied_in_the_same_transaction_and_leaves_no_orphan(
        api, django_capture_on_commit_callbacks):
    message_id = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    claimed = claim_queued(10)
    sink = sink_stage.sink()
    sink.submitted("sandbox", "sbx-held")  # the connector's word, as the carrier answers
    sink.receipt(DeliveryReceipt("sandbox", "sbx-held", "delivered"))
    sink.flush()  # the flusher runs before the settle: it holds the receipt, journaled
    assert ReceiptOrphan.objects.count() == 0
    assert infra.receipts_journal_read([("sandbox", "sbx-held")]) == {("sandbox", "sbx-held"): ("delivered", "")}
    with django_capture_on_commit_callbacks(execute=True):
        counts = settle(claimed, accepted={message_id: ("sandbox", "sbx-held")}, failed={},
                                 retry_later=[], receipts=sink.take([("sandbox", "sbx-held")]))
    assert counts["receipts"] == 1
    message = Message.objects.get(pk=message_id)
    assert (message.status, message.sequence) == ("delivered", 4)
    assert message.sent_at and message.delivered_at
    assert events_for(message_id) == [("message.sent", 3), ("message.delivered", 4)]
    assert events_of("message.sent", message_id)[0].data["status"] == "sent"
    assert infra.receipts_journal_read([("sandbox", "sbx-held")]) == {}  # deleted on commit
    assert ReceiptOrphan.objects.count() == 0


def test_a_receipt_arriving_while_its_settle_runs_is_applied_after_the_commit_not_orphaned(api):
    """Between ``take`` and the settle's commit the message is still ``sending`` in the database:
    a receipt landing then waits for :meth:`settled` instead of becoming a ReceiptOrphan row."""
    message_id = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    claimed = claim_queued(10)
    sink = MessagingSink()
    key = ("sandbox", "sbx-during-settle")
    sink.submitted(*key)
    assert sink.take([key]) == []  # nothing arrived yet: the settle starts without a receipt
    sink.receipt(DeliveryReceipt(*key, "delivered"))
    sink.flush()  # the flusher runs while the settle is in flight
    assert ReceiptOrphan.objects.count() == 0
    assert list(sink.held) == [key]
    settle(claimed, accepted={message_id: key}, failed={}, retry_later=[])
    sink.settled([key])
    assert Message.objects.get(pk=message_id).status == "sent"
    sink.flush()
    message = Message.objects.get(pk=message_id)
    assert (message.status, message.sequence) == ("delivered", 4)
    assert [e[0] for e in events_for(message_id)][-2:] == ["message.sent", "message.delivered"]
    assert ReceiptOrphan.objects.count() == 0
    assert sink.held == {} and sink.expected == {} and sink.released == []
    assert infra.receipts_journal_read([key]) == {}


def test_an_undelivered_receipt_held_for_its_settle_carries_its_error(api):
    message_id = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    claimed = claim_queued(10)
    receipt = DeliveryReceipt("sandbox", "sbx-undeliv", "undelivered", "undeliv:001")
    settle(claimed, accepted={message_id: ("sandbox", "sbx-undeliv")}, failed={}, retry_later=[],
                    receipts=[receipt])
    message = Message.objects.get(pk=message_id)
    assert (message.status, message.error_code) == ("undelivered", "undeliv:001")
    assert [e[0] for e in events_for(message_id)] == ["message.sent", "message.undelivered"]


def test_a_taken_receipt_whose_message_was_settled_elsewhere_goes_to_the_database_path(
        api, django_capture_on_commit_callbacks):
    """The sweeper settled the message between the claim and this settle: the receipt this settle
    took must not vanish with its journal entry."""
    message_id = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    claimed = claim_queued(10)
    key = ("sandbox", "sbx-settled-elsewhere")
    Message.objects.filter(pk=message_id).update(status="sent", connector=key[0], carrier_message_id=key[1])
    receipt = DeliveryReceipt(*key, "delivered")
    infra.receipts_journal_write([(*key, "delivered", "")], 60)
    with django_capture_on_commit_callbacks(execute=True):
        settle(claimed, accepted={message_id: key}, failed={}, retry_later=[], receipts=[receipt])
    assert infra.receipts_journal_read([key])  # not applied here: its journal entry stays
    assert receipt in sink_stage.sink().released
    sink_stage.sink().flush()
    assert Message.objects.get(pk=message_id).status == "delivered"
    assert infra.receipts_journal_read([key]) == {}
