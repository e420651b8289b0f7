import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from cpaas.carriers.base import DeliveryReceipt, InboundSms
from cpaas.carriers.sandbox import connector as sandbox
from cpaas.messaging import infra, pipeline, states
from cpaas.messaging.models import Connector, Message, OptOut, ReceiptOrphan, Route, Status
from tests.messaging.conftest import send

pytestmark = pytest.mark.django_db

CALLS = None  # the contract calls of the running test (set by the fixture below)


@pytest.fixture(autouse=True)
def _calls(contracts):
    global CALLS
    CALLS = contracts


def events_for(message_id):
    return [(e.type, e.data["sequence"]) for e in CALLS.events if e.data["id"] == message_id]


def events_of(type, message_id=None):
    return [e for e in CALLS.events if e.type == type and (message_id is None or e.data["id"] == message_id)]


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


def test_a_dispatch_sends_queued_messages_and_the_sandbox_delivers_them(api):
    ids = [send(api, to="+15005550000", body=f"m{i}").json()["id"] for i in range(3)]
    counts = pipeline.dispatch_batch()
    assert counts["claimed"] == 3
    assert counts["sent"] == 3
    for message_id in ids:
        message = Message.objects.get(pk=message_id)
        assert message.status == "delivered"
        assert message.connector == "sandbox"
        assert message.carrier_message_id.startswith("sbx-")
        assert message.sent_at and message.delivered_at
        assert events_for(message_id) == [("message.sent", 3), ("message.delivered", 4)]
    assert [u.meter for u in CALLS.usage] == ["sms_segments"] * 3
    assert CALLS.usage[0].dimensions["country"] == "US"
    assert CALLS.usage[0].quantity == 1


def test_running_dispatch_twice_sends_once(api):
    message_id = send(api).json()["id"]
    pipeline.dispatch_batch()
    assert pipeline.dispatch_batch()["claimed"] == 0
    assert len(events_of("message.sent", message_id)) == 1
    assert len(CALLS.usage) == 1


def test_each_magic_number_gives_its_outcome(api, settings):
    Connector.objects.create(id="sandbox", kind="sandbox", config={"delay_seconds": 0.0001})
    outcomes = {}
    for number in (sandbox.DELIVERED, sandbox.UNDELIVERED, sandbox.FAILED_AT_SUBMIT, sandbox.NO_RECEIPT):
        outcomes[number] = send(api, to=number).json()["id"]
    pipeline.dispatch_batch()
    status = {number: Message.objects.get(pk=mid) for number, mid in outcomes.items()}
    assert status[sandbox.DELIVERED].status == "delivered"
    undelivered = status[sandbox.UNDELIVERED]
    assert (undelivered.status, undelivered.error_code) == ("undelivered", "unreachable")
    assert (status[sandbox.FAILED_AT_SUBMIT].status, status[sandbox.FAILED_AT_SUBMIT].error_code) == \
        ("failed", "invalid_destination")
    assert status[sandbox.NO_RECEIPT].status == "sent"
    assert events_for(outcomes[sandbox.FAILED_AT_SUBMIT]) == [("message.failed", 3)]


def test_a_delayed_receipt_arrives_through_its_task(api, monkeypatch):
    from cpaas.messaging import tasks

    scheduled = []
    monkeypatch.setattr(tasks.apply_receipt, "apply_async",
                        lambda args, countdown: scheduled.append((args, countdown)))
    message_id = send(api, to=sandbox.DELIVERED_AFTER_DELAY).json()["id"]
    pipeline.dispatch_batch()
    assert Message.objects.get(pk=message_id).status == "sent"
    (args, countdown), = scheduled
    assert countdown == 5
    tasks.apply_receipt(*args)
    assert Message.objects.get(pk=message_id).status == "delivered"


def test_the_sandbox_reply_number_answers_and_the_reply_is_received(api, number):
    message_id = send(api, to=sandbox.REPLIES, **{"from": number}).json()["id"]
    pipeline.dispatch_batch()
    reply = Message.objects.get(direction="inbound")
    assert (reply.sender, reply.to, reply.status) == (sandbox.REPLIES, number, "received")
    assert message_id in reply.body
    assert events_of("message.received", reply.id)


def test_late_and_doubled_receipts_change_nothing(api):
    message_id = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    pipeline.dispatch_batch()
    message = Message.objects.get(pk=message_id)
    receipt = DeliveryReceipt("sandbox", message.carrier_message_id, "delivered")
    assert pipeline.receipts_apply([receipt])["applied"] == 1
    assert pipeline.receipts_apply([receipt])["ignored"] == 1
    assert pipeline.receipts_apply([DeliveryReceipt("sandbox", message.carrier_message_id, "undelivered")])[
        "ignored"] == 1
    message.refresh_from_db()
    assert (message.status, message.sequence) == ("delivered", 4)
    assert len(events_of("message.delivered", message_id)) == 1


def test_a_receipt_that_outruns_the_submit_waits_and_is_applied(api):
    message_id = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    pipeline.receipts_apply([DeliveryReceipt("sandbox", "sbx-early", "delivered")])
    assert ReceiptOrphan.objects.count() == 1
    claimed = pipeline.claim_queued(10)
    pipeline.settle(claimed, accepted={message_id: ("sandbox", "sbx-early")}, failed={}, retry_later=[])
    assert Message.objects.get(pk=message_id).status == "delivered"
    assert ReceiptOrphan.objects.count() == 0


def test_a_canceled_message_is_never_sent(api):
    message_id = send(api).json()["id"]
    assert api.post(f"/v1/messages/{message_id}/cancel").json()["status"] == "canceled"
    assert pipeline.dispatch_batch()["claimed"] == 0
    assert events_for(message_id) == [("message.canceled", 2)]


def test_scheduled_messages_are_released_at_their_time(api):
    when = timezone.now() + timedelta(hours=1)
    message_id = send(api, send_at=when.isoformat()).json()["id"]
    assert pipeline.release_scheduled() == 0
    Message.objects.filter(pk=message_id).update(send_at=timezone.now() - timedelta(seconds=1))
    assert pipeline.release_scheduled() == 1
    pipeline.dispatch_batch()
    assert [e[0] for e in events_for(message_id)] == ["message.queued", "message.sent", "message.delivered"]


def test_the_sweeper_finishes_a_crashed_submit_from_the_journal_without_resubmitting(api, monkeypatch):
    message_id = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    pipeline.claim_queued(10)
    infra.journal_write({message_id: "submitted|sandbox|sbx-crashed"}, 60)
    Message.objects.filter(pk=message_id).update(lease_until=timezone.now() - timedelta(seconds=1))
    submitted = []
    monkeypatch.setattr(sandbox.SandboxSmsConnector, "submit", lambda self, batch: submitted.append(batch))
    counts = pipeline.sweep()
    assert counts["recovered_sent"] == 1
    assert submitted == []
    message = Message.objects.get(pk=message_id)
    assert (message.status, message.carrier_message_id) == ("sent", "sbx-crashed")


def test_the_sweeper_resubmits_what_never_left(api):
    message_id = send(api).json()["id"]
    pipeline.claim_queued(10)
    Message.objects.filter(pk=message_id).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert pipeline.sweep()["resubmitted"] == 1
    assert Message.objects.get(pk=message_id).status == "delivered"


def test_the_sweeper_never_gives_an_unknown_submit_to_the_same_carrier(api):
    message_id = send(api).json()["id"]
    pipeline.claim_queued(10)
    infra.journal_write({message_id: "submitting|sandbox"}, 60)
    Message.objects.filter(pk=message_id).update(lease_until=timezone.now() - timedelta(seconds=1))
    pipeline.sweep()
    message = Message.objects.get(pk=message_id)
    assert message.status == "failed"
    assert message.error_code == "no_route"
    assert message.tried_connectors == ["sandbox"]


def test_stop_opts_out_and_start_opts_back_in(api, app, number):
    for word, expected in (("STOP", True), ("start", False), ("退订", True)):
        pipeline.inbound_receive(InboundSms("sandbox", sender="+12025550123", recipient=number, body=word))
        assert OptOut.objects.filter(app=app, number="+12025550123").exists() is expected
    assert send(api, to="+12025550123").json()["error"]["code"] == "recipient_opted_out"
    assert len(events_of("message.received")) == 3


def test_help_answers_with_the_apps_text(api, number, live_api):
    live_api.post("/v1/sms/settings", {"help_text": "Acme support: reply STOP to stop."}, format="json")
    pipeline.inbound_receive(InboundSms("sandbox", sender="+12025550123", recipient=number, body="help"))
    reply = Message.objects.get(direction="outbound")
    assert (reply.to, reply.sender, reply.body, reply.status) == \
        ("+12025550123", number, "Acme support: reply STOP to stop.", "queued")


def test_a_doubled_inbound_message_is_stored_once(number):
    inbound = InboundSms("sandbox", sender="+12025550123", recipient=number, body="hi", carrier_message_id="mo-1")
    assert pipeline.inbound_receive(inbound) is not None
    assert pipeline.inbound_receive(inbound) is None
    assert Message.objects.filter(direction="inbound").count() == 1


def test_inbound_to_an_unknown_number_is_dropped(db):
    assert pipeline.inbound_receive(InboundSms("sandbox", sender="+12025550123", recipient="+15005559999",
                                               body="hi")) is None


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
    real = pipeline.connector_for
    monkeypatch.setattr(pipeline, "connector_for", lambda name: broken if name == "primary" else real(name))
    message_id = send(live).json()["id"]
    pipeline.dispatch_batch()
    message = Message.objects.get(pk=message_id)
    assert (message.status, message.connector) == ("delivered", "backup")
    assert broken.calls == 1


def test_a_rejection_fails_over_but_a_message_never_reaches_one_carrier_twice(app, monkeypatch, live):
    from cpaas.carriers.base import CarrierError

    only = Connector.objects.create(id="only", kind="sandbox")
    Route.objects.create(country="US", connector=only)
    broken = Broken(CarrierError("maybe", code="carrier_timeout", submitted=True))
    monkeypatch.setattr(pipeline, "connector_for", lambda name: broken)
    message_id = send(live).json()["id"]
    pipeline.dispatch_batch()
    message = Message.objects.get(pk=message_id)
    assert (message.status, message.error_code, message.tried_connectors) == ("failed", "carrier_timeout", ["only"])
    assert broken.calls == 1


def test_app_routes_beat_platform_routes_and_longer_prefixes_win(app):
    a = Connector.objects.create(id="a", kind="sandbox")
    b = Connector.objects.create(id="b", kind="sandbox")
    c = Connector.objects.create(id="c", kind="sandbox")
    Route.objects.create(prefix="+1", connector=a)
    Route.objects.create(prefix="+1202", connector=b)
    Route.objects.create(app=app, country="US", connector=c)
    message = Message(app_id=app.id, mode="live", to="+12025550123", country="US")
    assert pipeline.route_candidates(message) == ["c", "b", "a"]
    other = Message(app_id="app_other", mode="live", to="+12025550123", country="US")
    assert pipeline.route_candidates(other) == ["b", "a"]
    assert pipeline.route_candidates(Message(app_id=app.id, mode="test", to="+1202")) == ["sandbox"]


def test_a_transient_failure_everywhere_keeps_the_message_for_the_sweeper(app, monkeypatch, live):
    from cpaas.carriers.base import CarrierError

    Route.objects.create(country="US", connector=Connector.objects.create(id="x", kind="sandbox"))
    monkeypatch.setattr(pipeline, "connector_for", lambda name: Broken(CarrierError("down")))
    message_id = send(live).json()["id"]
    assert pipeline.dispatch_batch()["retry"] == 1
    message = Message.objects.get(pk=message_id)
    assert message.status == "sending"
    assert message.lease_until > timezone.now()
    assert message.tried_connectors == []


def test_an_orphan_that_missed_its_settle_is_adopted_later(api):
    message_id = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    pipeline.dispatch_batch()
    carrier_id = Message.objects.get(pk=message_id).carrier_message_id
    ReceiptOrphan.objects.create(connector="sandbox", carrier_message_id=carrier_id, status="delivered")
    ReceiptOrphan.objects.create(connector="sandbox", carrier_message_id="sbx-unknown", status="delivered")
    assert pipeline.orphans_adopt() == 1
    assert Message.objects.get(pk=message_id).status == "delivered"
    assert list(ReceiptOrphan.objects.values_list("carrier_message_id", flat=True)) == ["sbx-unknown"]


def test_a_submitted_message_shows_its_rated_price_and_the_estimate_too(api, app):
    from decimal import Decimal

    from billing.plans import plan_assign, plan_create

    version = plan_create(code="sms", name="SMS", currency="usd", charges=[
        {"meter": "sms_segments", "model": "per_unit", "unit_price": "0.0075"}])
    plan_assign(tenant_id=app.tenant_id, version=version, effective_from=timezone.now().date().replace(day=1))
    body = "x" * 200  # two GSM-7 segments
    sent = send(api, to="+15005550000", body=body).json()
    assert (sent["price"], sent["currency"]) == (None, None)  # not rated before it is submitted
    pipeline.dispatch_batch()
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
        pipeline.dispatch_batch()
    assert len(asked) == 1
    assert set(Message.objects.filter(app=app).values_list("price", flat=True)) == {Decimal("0.0075")}
    monkeypatch.setattr(pricing, "CACHE_SECONDS", 0.0)
    send(api, to="+15005550000")
    pipeline.dispatch_batch()
    assert len(asked) == 2


def test_without_a_plan_the_price_stays_null(api):
    sent = send(api, to="+15005550000").json()
    pipeline.dispatch_batch()
    shown = api.get(f"/v1/messages/{sent['id']}").json()
    assert (shown["status"], shown["price"], shown["currency"]) == ("delivered", None, None)


def test_a_multipart_reply_from_the_smsc_process_is_received_as_one_message(api, app, number, tmp_path):
    """Against the SMPP server process: three UDH parts, last first, become one inbound message."""
    import time

    from cpaas.carriers.base import OutboundSms
    from cpaas.carriers.smpp import SmppConfig, SmppConnector
    from tests.carriers.smsc import Smsc

    class TestSink(pipeline.MessagingSink):
        def start_flusher(self, interval=0.05):  # this test flushes itself, in its own transaction
            return None

    server = Smsc(tmp_path).start()
    sink = TestSink()
    connector = SmppConnector(name="smsc-mo", config=SmppConfig.parse(server.config()), throughput=100, sink=sink)
    try:
        connector.submit([OutboundSms(message_id="msg_x", to="+447700900123", sender=number,
                                      parts=("MOLONG: tell me more",), encoding="GSM-7")])
        deadline = time.monotonic() + 10
        while len(sink.inbounds) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(sink.inbounds) == 3
        sink.flush()
    finally:
        connector.close()
        server.stop()
    received = list(Message.objects.filter(app=app, direction="inbound"))
    assert len(received) == 1
    assert (received[0].sender.lstrip("+"), received[0].to, received[0].body) == (
        "447700900123", number, "The first part of a long reply, then the second part, and the end.")
    assert len(events_of("message.received")) == 1


def test_parts_of_a_multipart_message_wait_for_each_other(number):
    first = InboundSms("smsc1", sender="447700900123", recipient=number.lstrip("+"), body="Hello ", part=(7, 2, 1))
    second = InboundSms("smsc1", sender="447700900123", recipient=number.lstrip("+"), body="world", part=(7, 2, 2))
    assert pipeline.inbound_join(second) is None
    assert pipeline.inbound_join(first).body == "Hello world"
    assert pipeline.inbound_join(first) is None  # a new set starts: nothing is delivered twice


def test_a_receipt_ahead_of_its_submit_is_parked_at_once_and_applied_when_the_submit_settles(api):
    """Never held only in memory: the SMSC already has its deliver_sm_resp."""
    message_id = send(api).json()["id"]
    sink = pipeline.MessagingSink()
    sink.receipt(DeliveryReceipt("sandbox", "sbx-ahead", "delivered"))
    sink.flush()
    assert ReceiptOrphan.objects.count() == 1
    Message.objects.filter(pk=message_id).update(status="sent", connector="sandbox", carrier_message_id="sbx-ahead")
    pipeline.orphans_adopt()
    assert (Message.objects.get(pk=message_id).status, ReceiptOrphan.objects.count()) == ("delivered", 0)


# --- receipts held for their own settle (decision 0410) -------------------------------------------

def test_a_receipt_held_for_its_settle_is_applied_in_the_same_transaction_and_leaves_no_orphan(
        api, django_capture_on_commit_callbacks):
    message_id = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    claimed = pipeline.claim_queued(10)
    sink = pipeline.sink()
    sink.submitted("sandbox", "sbx-held")  # the connector's word, as the carrier answers
    sink.receipt(DeliveryReceipt("sandbox", "sbx-held", "delivered"))
    sink.flush()  # the flusher runs before the settle: it holds the receipt, journaled
    assert ReceiptOrphan.objects.count() == 0
    assert infra.receipts_journal_read([("sandbox", "sbx-held")]) == {("sandbox", "sbx-held"): ("delivered", "")}
    with django_capture_on_commit_callbacks(execute=True):
        counts = pipeline.settle(claimed, accepted={message_id: ("sandbox", "sbx-held")}, failed={},
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
    claimed = pipeline.claim_queued(10)
    sink = pipeline.MessagingSink()
    key = ("sandbox", "sbx-during-settle")
    sink.submitted(*key)
    assert sink.take([key]) == []  # nothing arrived yet: the settle starts without a receipt
    sink.receipt(DeliveryReceipt(*key, "delivered"))
    sink.flush()  # the flusher runs while the settle is in flight
    assert ReceiptOrphan.objects.count() == 0
    assert list(sink.held) == [key]
    pipeline.settle(claimed, accepted={message_id: key}, failed={}, retry_later=[])
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
    claimed = pipeline.claim_queued(10)
    receipt = DeliveryReceipt("sandbox", "sbx-undeliv", "undelivered", "undeliv:001")
    pipeline.settle(claimed, accepted={message_id: ("sandbox", "sbx-undeliv")}, failed={}, retry_later=[],
                    receipts=[receipt])
    message = Message.objects.get(pk=message_id)
    assert (message.status, message.error_code) == ("undelivered", "undeliv:001")
    assert [e[0] for e in events_for(message_id)] == ["message.sent", "message.undelivered"]


def test_a_receipt_for_a_submit_nobody_announced_still_takes_the_orphan_path(api):
    sink = pipeline.MessagingSink()
    sink.receipt(DeliveryReceipt("sandbox", "sbx-unannounced", "delivered"))
    sink.flush()
    assert ReceiptOrphan.objects.count() == 1
    assert sink.held == {}


def test_a_held_receipt_whose_settle_never_comes_is_released_to_the_database_path(api, monkeypatch):
    sink = pipeline.MessagingSink()
    sink.submitted("sandbox", "sbx-stuck")
    sink.receipt(DeliveryReceipt("sandbox", "sbx-stuck", "delivered"))
    sink.flush()
    assert list(sink.held) == [("sandbox", "sbx-stuck")]
    monkeypatch.setattr(pipeline.MessagingSink, "HOLD_SECONDS", 0.0)
    sink._last_expiry = 0.0
    sink.flush()
    assert sink.held == {} and sink.expected == {}
    assert ReceiptOrphan.objects.filter(carrier_message_id="sbx-stuck").count() == 1


def test_the_sweeper_applies_the_journaled_receipt_of_a_crashed_submit(api, monkeypatch):
    """The worker died after the carrier answered and its receipt was held, before the settle."""
    message_id = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    pipeline.claim_queued(10)
    infra.journal_write({message_id: "submitted|sandbox|sbx-died"}, 60)
    infra.receipts_journal_write([("sandbox", "sbx-died", "delivered", "")], 60)
    Message.objects.filter(pk=message_id).update(lease_until=timezone.now() - timedelta(seconds=1))
    submitted = []
    monkeypatch.setattr(sandbox.SandboxSmsConnector, "submit", lambda self, batch: submitted.append(batch))
    assert pipeline.sweep()["recovered_sent"] == 1
    assert submitted == []
    message = Message.objects.get(pk=message_id)
    assert (message.status, message.carrier_message_id) == ("delivered", "sbx-died")
    assert [e[0] for e in events_for(message_id)] == ["message.queued", "message.sent", "message.delivered"][
        -len(events_for(message_id)):]


def test_a_flush_of_hundreds_of_receipts_applies_each_once(api):
    """More than 100 (connector, carrier id) pairs in one lookup (the planner's literal-list limit)."""
    from copy import copy

    first = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    pipeline.dispatch_batch()
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
    assert pipeline.receipts_apply(receipts + receipts[:5])["applied"] == 150
    assert Message.objects.filter(pk__in=ids, status="delivered").count() == 150
    assert pipeline.receipts_apply(receipts)["ignored"] == 150


def test_adoptable_orphans_are_found_behind_many_that_never_will_be(api):
    ReceiptOrphan.objects.bulk_create([ReceiptOrphan(connector="sandbox", carrier_message_id=f"sbx-never-{i}",
                                                     status="delivered") for i in range(30)])
    message_id = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    pipeline.dispatch_batch()
    carrier_id = Message.objects.get(pk=message_id).carrier_message_id
    ReceiptOrphan.objects.create(connector="sandbox", carrier_message_id=carrier_id, status="delivered")
    assert pipeline.orphans_adopt(limit=10) == 1
    assert Message.objects.get(pk=message_id).status == "delivered"
    assert ReceiptOrphan.objects.count() == 30


def test_a_receipt_read_before_its_submit_answer_waits_one_flush_for_the_announcement(api):
    """The bind can hand us the receipt before the coroutine that got its submit_sm_resp runs."""
    sink = pipeline.MessagingSink()
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
    sink = pipeline.MessagingSink()
    sink.submitted("sandbox", "sbx-other")
    sink.receipt(DeliveryReceipt("sandbox", "sbx-foreign", "delivered"))
    sink.flush()
    sink.flush()
    assert ReceiptOrphan.objects.filter(carrier_message_id="sbx-foreign").count() == 1
    assert infra.receipts_journal_read([("sandbox", "sbx-foreign")]) == {}
    assert sink.waiting == []


def test_the_claim_locks_its_batch_once_whatever_the_statistics_say(api, app):
    """Fresh statistics that call ``queued`` rare once made the planner run the claim's
    LIMIT … FOR UPDATE subquery again for every queued row (a nested-loop semi join)."""
    from django.db import connection

    from cpaas.messaging.models import Message

    first = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    template = Message.objects.get(pk=first)
    clones = []
    for i in range(300):
        clone = Message.objects.get(pk=first)
        clone.id, clone.status = f"{first}{i:03d}", "delivered"
        clones.append(clone)
    Message.objects.bulk_create(clones)
    assert template.status == "queued"
    pipeline.claim_queued(0)  # builds the statement
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Message._meta.db_table}")
        cursor.execute("EXPLAIN " + pipeline._CLAIM, ["sending", timezone.now(), timezone.now(), "queued", 100,
                                                      "queued"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "InitPlan" in plan and "Semi Join" not in plan, plan
    assert [m.id for m in pipeline.claim_queued(100)] == [first]


def test_a_flush_whose_database_write_fails_keeps_its_receipts_for_the_next(api, monkeypatch):
    message_id = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    claimed = pipeline.claim_queued(10)
    key = ("sandbox", "sbx-flush-fails")
    pipeline.settle(claimed, accepted={message_id: key}, failed={}, retry_later=[])
    sink = pipeline.MessagingSink()
    sink.release([DeliveryReceipt(*key, "delivered")])
    real_apply = pipeline.receipts_apply

    def down(receipts):
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(pipeline, "receipts_apply", down)
    with pytest.raises(RuntimeError):
        sink.flush()
    assert Message.objects.get(pk=message_id).status == "sent"
    monkeypatch.setattr(pipeline, "receipts_apply", real_apply)
    sink.flush()
    assert Message.objects.get(pk=message_id).status == "delivered"


def test_a_taken_receipt_whose_message_was_settled_elsewhere_goes_to_the_database_path(
        api, django_capture_on_commit_callbacks):
    """The sweeper settled the message between the claim and this settle: the receipt this settle
    took must not vanish with its journal entry."""
    message_id = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    claimed = pipeline.claim_queued(10)
    key = ("sandbox", "sbx-settled-elsewhere")
    Message.objects.filter(pk=message_id).update(status="sent", connector=key[0], carrier_message_id=key[1])
    receipt = DeliveryReceipt(*key, "delivered")
    infra.receipts_journal_write([(*key, "delivered", "")], 60)
    with django_capture_on_commit_callbacks(execute=True):
        pipeline.settle(claimed, accepted={message_id: key}, failed={}, retry_later=[], receipts=[receipt])
    assert infra.receipts_journal_read([key])  # not applied here: its journal entry stays
    assert receipt in pipeline.sink().released
    pipeline.sink().flush()
    assert Message.objects.get(pk=message_id).status == "delivered"
    assert infra.receipts_journal_read([key]) == {}
