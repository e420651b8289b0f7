"""The operator's `manage.py sms_connector`: the throughput knob as a benchmark or an SMSC without a
cap needs it (0 = unlimited, decision 0910)."""

import json
import re
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cpaas.carriers import registry
from cpaas.carriers.base import OutboundSms
from cpaas.messaging.models import Connector
from tests.carriers.sink import CollectingSink
from tests.carriers.smsc import Smsc

pytestmark = pytest.mark.django_db


@pytest.fixture
def smsc(tmp_path):
    server = Smsc(tmp_path).start()
    yield server
    server.stop()


def test_throughput_zero_is_stored_and_the_worker_connector_submits_without_a_cap(smsc):
    call_command("sms_connector", "bench-smsc", "smpp", "--config", json.dumps(smsc.config()),
                 "--throughput", "0", stdout=StringIO())
    row = Connector.objects.get(pk="bench-smsc")
    assert row.throughput == 0
    # Built from the row as a worker builds it (the test's own sink: no flusher thread to stop).
    connector = registry.sms_connector(row.id, row.kind, row.config, row.throughput, CollectingSink(), row.credentials)
    try:
        batch = [OutboundSms(message_id=f"msg_{i}", to="+447700900123", sender="Acme", parts=("hi",),
                             encoding="GSM-7") for i in range(11)]
        connector.submit(batch[:1])  # the bind
        started = time.monotonic()
        results = connector.submit(batch[1:])
        elapsed = time.monotonic() - started
    finally:
        registry.close_all()
    assert all(result.accepted for result in results)
    assert elapsed < 3.0  # 1 msg/s before: 10 s


def test_a_negative_throughput_is_refused_with_a_message():
    with pytest.raises(CommandError, match="--throughput"):
        call_command("sms_connector", "bad", "smpp", "--throughput", "-5", stdout=StringIO())
    assert not Connector.objects.filter(pk="bad").exists()


@pytest.mark.parametrize(("kind", "config", "says"), [
    ("smpp", {"host": "smsc.example", "port": 2775, "windw": 10}, "windw: unknown key"),
    ("smpp", {"host": "smsc.example", "port": "x"}, "port: must be an integer"),
    ("smpp", {"port": 2775}, "host: is required"),
    ("http", {"url": "ftp://up.example"}, "url: must be an http:// or https:// URL"),
    ("http", {"url": "https://up.example", "receipt": {"delivered": "ok"}}, "receipt.delivered: must be a list"),
])
def test_a_configuration_the_kind_cannot_use_is_refused_naming_the_key(kind, config, says):
    with pytest.raises(CommandError, match=re.escape(f"not a valid {kind} configuration: {says}")):
        call_command("sms_connector", "bad", kind, "--config", json.dumps(config), stdout=StringIO())
    assert not Connector.objects.filter(pk="bad").exists()


def test_an_unknown_kind_is_refused_with_the_registered_ones():
    with pytest.raises(CommandError, match=r"invalid choice: 'smtp' \(choose from 'http', 'sandbox', 'smpp'\)"):
        call_command("sms_connector", "bad", "smtp", stdout=StringIO())
