"""The sweeper: crashed submits reconciled from the journal, scheduled sends released (sweep.py)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cpaas.carriers.sandbox import connector as sandbox
from cpaas.messaging import infra
from cpaas.messaging.claim import claim_queued
from cpaas.messaging.dispatch import dispatch_batch
from cpaas.messaging.models import Message
from cpaas.messaging.sweep import release_scheduled, sweep
from tests.messaging.conftest import events_for, send

pytestmark = pytest.mark.django_db


def test_scheduled_messages_are_released_at_their_time(api):
    when = timezone.now() + timedelta(hours=1)
    message_id = send(api, send_at=when.isoformat()).json()["id"]
    assert release_scheduled() == 0
    Message.objects.filter(pk=message_id).update(send_at=timezone.now() - timedelta(seconds=1))
    assert release_scheduled() == 1
    dispatch_batch()
    assert [e[0] for e in events_for(message_id)] == ["message.queued", "message.sent", "message.delivered"]


def test_the_sweeper_finishes_a_crashed_submit_from_the_journal_without_resubmitting(api, monkeypatch):
    message_id = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    claim_queued(10)
    infra.journal_write({message_id: "submitted|sandbox|sbx-crashed"}, 60)
    Message.objects.filter(pk=message_id).update(lease_until=timezone.now() - timedelta(seconds=1))
    submitted = []
    monkeypatch.setattr(sandbox.SandboxSmsConnector, "submit", lambda self, batch: submitted.append(batch))
    counts = sweep()
    assert counts["recovered_sent"] == 1
    assert submitted == []
    message = Message.objects.get(pk=message_id)
    assert (message.status, message.carrier_message_id) == ("sent", "sbx-crashed")


def test_the_sweeper_resubmits_what_never_left(api):
    message_id = send(api).json()["id"]
    claim_queued(10)
    Message.objects.filter(pk=message_id).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert sweep()["resubmitted"] == 1
    assert Message.objects.get(pk=message_id).status == "delivered"


def test_the_sweeper_never_gives_an_unknown_submit_to_the_same_carrier(api):
    message_id = send(api).json()["id"]
    claim_queued(10)
    infra.journal_write({message_id: "submitting|sandbox"}, 60)
    Message.objects.filter(pk=message_id).update(lease_until=timezone.now() - timedelta(seconds=1))
    sweep()
    message = Message.objects.get(pk=message_id)
    assert message.status == "failed"
    assert message.error_code == "no_route"
    assert message.tried_connectors == ["sandbox"]


def test_the_sweeper_applies_the_journaled_receipt_of_a_crashed_submit(api, monkeypatch):
    """The worker died after the carrier answered and its receipt was held, before the settle."""
    message_id = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    claim_queued(10)
    infra.journal_write({message_id: "submitted|sandbox|sbx-died"}, 60)
    infra.receipts_journal_write([("sandbox", "sbx-died", "delivered", "")], 60)
    Message.objects.filter(pk=message_id).update(lease_until=timezone.now() - timedelta(seconds=1))
    submitted = []
    monkeypatch.setattr(sandbox.SandboxSmsConnector, "submit", lambda self, batch: submitted.append(batch))
    assert sweep()["recovered_sent"] == 1
    assert submitted == []
    message = Message.objects.get(pk=message_id)
    assert (message.status, message.carrier_message_id) == ("delivered", "sbx-died")
    assert [e[0] for e in events_for(message_id)] == ["message.queued", "message.sent", "message.delivered"][
        -len(events_for(message_id)):]
