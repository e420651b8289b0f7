"""The sandbox SMS connector: each magic number gives its outcome, through the sink like a carrier."""

from cpaas.carriers.base import OutboundSms
from cpaas.carriers.sandbox import SandboxConfig, SandboxSmsConnector
from cpaas.carriers.sandbox import connector as sandbox
from tests.carriers.sink import CollectingSink


def submit(*numbers, delay=5.0):
    sink = CollectingSink()
    connector = SandboxSmsConnector(name="sandbox", config=SandboxConfig(delay_seconds=delay), sink=sink)
    results = connector.submit([OutboundSms(message_id=f"msg_{i}", to=to, sender="+15005559000", parts=("hi",),
                                            encoding="GSM-7") for i, to in enumerate(numbers)])
    return results, sink


def test_each_magic_number_gives_its_outcome():
    results, sink = submit(sandbox.DELIVERED, sandbox.UNDELIVERED, sandbox.FAILED_AT_SUBMIT, sandbox.NO_RECEIPT,
                           sandbox.CARRIER_DOWN)
    delivered, undelivered, failed, silent, down = results
    assert delivered.accepted and undelivered.accepted and silent.accepted
    assert (failed.error.code, failed.error.permanent) == ("invalid_destination", True)
    assert (down.error.code, down.error.permanent) == ("carrier_unavailable", False)
    receipts = {r.carrier_message_id: (r.status, r.error_code) for r in sink.receipts}
    assert receipts == {delivered.carrier_message_id: ("delivered", ""),
                        undelivered.carrier_message_id: ("undelivered", "unreachable")}


def test_the_delayed_receipt_waits_the_configured_seconds_and_the_reply_comes_back():
    _, sink = submit(sandbox.DELIVERED_AFTER_DELAY, sandbox.REPLIES, delay=0.25)
    assert [r.delay_seconds for r in sink.receipts] == [0.25, 0]
    (reply,) = sink.inbounds
    assert (reply.sender, reply.recipient, reply.body) == (sandbox.REPLIES, "+15005559000", "Reply to msg_1")
