"""Inbound messages and their keywords (inbound.py)."""


import pytest

from cpaas.carriers.base import InboundSms
from cpaas.carriers.sandbox import connector as sandbox
from cpaas.messaging.dispatch import dispatch_batch
from cpaas.messaging.inbound import inbound_join, inbound_receive
from cpaas.messaging.models import Message, OptOut
from cpaas.messaging.sink import MessagingSink
from tests.messaging.conftest import events_of, send

pytestmark = pytest.mark.django_db


def test_the_sandbox_reply_number_answers_and_the_reply_is_received(api, number):
    message_id = send(api, to=sandbox.REPLIES, **{"from": number}).json()["id"]
    dispatch_batch()
    reply = Message.objects.get(direction="inbound")
    assert (reply.sender, reply.to, reply.status) == (sandbox.REPLIES, number, "received")
    assert message_id in reply.body
    assert events_of("message.received", reply.id)


def test_stop_opts_out_and_start_opts_back_in(api, app, number):
    for word, expected in (("STOP", True), ("start", False), ("退订", True)):
        inbound_receive(InboundSms("sandbox", sender="+12025550123", recipient=number, body=word))
        assert OptOut.objects.filter(app=app, number="+12025550123").exists() is expected
    assert send(api, to="+12025550123").json()["error"]["code"] == "recipient_opted_out"
    assert len(events_of("message.received")) == 3


def test_help_answers_with_the_apps_text(api, number, live_api):
    live_api.post("/v1/sms/settings", {"help_text": "Acme support: reply STOP to stop."}, format="json")
    inbound_receive(InboundSms("sandbox", sender="+12025550123", recipient=number, body="help"))
    reply = Message.objects.get(direction="outbound")
    assert (reply.to, reply.sender, reply.body, reply.status) == \
        ("+12025550123", number, "Acme support: reply STOP to stop.", "queued")


def test_a_doubled_inbound_message_is_stored_once(number):
    inbound = InboundSms("sandbox", sender="+12025550123", recipient=number, body="hi", carrier_message_id="mo-1")
    assert inbound_receive(inbound) is not None
    assert inbound_receive(inbound) is None
    assert Message.objects.filter(direction="inbound").count() == 1


def test_inbound_to_an_unknown_number_is_dropped(db):
    assert inbound_receive(InboundSms("sandbox", sender="+12025550123", recipient="+15005559999",
                                               body="hi")) is None


def test_a_multipart_reply_from_the_smsc_process_is_received_as_one_message(api, app, number, tmp_path):
    """Against the SMPP server process: three UDH parts, last first, become one inbound message."""
    import time

    from cpaas.carriers.base import OutboundSms
    from cpaas.carriers.smpp import SmppConfig, SmppConnector
    from tests.carriers.smsc import Smsc

    server = Smsc(tmp_path).start()
    sink = MessagingSink()  # no flusher thread: this test flushes itself, in its own transaction
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
    assert inbound_join(second) is None
    assert inbound_join(first).body == "Hello world"
    assert inbound_join(first) is None  # a new set starts: nothing is delivered twice
