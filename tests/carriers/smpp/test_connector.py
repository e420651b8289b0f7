import time

import pytest

from cpaas.carriers.base import CarrierError, OutboundSms
from cpaas.carriers.smpp import SmppConfig, SmppConnector
from cpaas.carriers.smpp import connector as module
from cpaas.carriers.smpp.codec import gsm7_decode
from cpaas.carriers.smpp.connector import relative_time
from tests.carriers.sink import CollectingSink
from tests.carriers.smsc import Smsc


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def smsc(tmp_path):
    server = Smsc(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def connect():
    made = []

    def make(server, **config):
        sink = CollectingSink()
        connector = SmppConnector(name="smsc1", config=SmppConfig.parse({**server.config(), **config}), throughput=5000,
                                  sink=sink)
        made.append(connector)
        return connector, sink

    yield make
    for connector in made:
        connector.close()


def sms(i, to="+447700900123", body="Hello", encoding="GSM-7", parts=None):
    return OutboundSms(message_id=f"msg_{i}", to=to, sender="Acme", parts=parts or (body,), encoding=encoding)


def test_it_submits_a_batch_and_receives_a_receipt_for_each(smsc, connect):
    connector, sink = connect(smsc)
    results = connector.submit([sms(i) for i in range(50)])
    assert all(result.accepted for result in results)
    ids = {result.carrier_message_id for result in results}
    assert len(ids) == 50
    assert wait_for(lambda: len(sink.receipts) == 50)
    assert {r.carrier_message_id for r in sink.receipts} == ids
    assert {r.status for r in sink.receipts} == {"delivered"}
    assert len(smsc.submits()) == 50


def test_it_announces_each_accepted_carrier_id_to_a_sink_that_asks(smsc, connect):
    """So the messaging sink can hold a receipt for the submit's own settle (decision 0410)."""
    connector, sink = connect(smsc)
    announced = []
    sink.submitted = lambda name, carrier_id: announced.append((name, carrier_id))
    results = connector.submit([sms(i) for i in range(5)])
    assert sorted(announced) == sorted(("smsc1", result.carrier_message_id) for result in results)


def test_it_keeps_one_bind_for_many_batches(smsc, connect):
    connector, _ = connect(smsc)
    for _ in range(3):
        assert all(r.accepted for r in connector.submit([sms(i) for i in range(5)]))
    assert connector.binds == 1


def test_it_splits_long_messages_with_a_concatenation_header(smsc, connect):
    connector, _ = connect(smsc)
    parts = ("a" * 153, "b" * 10)
    (result,) = connector.submit([sms(1, parts=parts)])
    assert result.accepted
    sent = smsc.submits()
    assert [s["esm_class"] for s in sent] == [0x40, 0x40]
    first = bytes.fromhex(sent[0]["body"])
    assert first[:6] == bytes((5, 0, 3, first[3], 2, 1))
    assert gsm7_decode(first[6:]) == "a" * 153
    assert bytes.fromhex(sent[1]["body"])[5] == 2


def test_it_sends_ucs2_as_utf16(smsc, connect):
    connector, _ = connect(smsc)
    connector.submit([sms(1, body="Привет", encoding="UCS-2")])
    (sent,) = smsc.submits()
    assert sent["data_coding"] == 8
    assert bytes.fromhex(sent["body"]).decode("utf-16-be") == "Привет"


def test_undelivered_receipts_carry_the_state(tmp_path, connect):
    server = Smsc(tmp_path, stat="UNDELIV").start()
    try:
        connector, sink = connect(server)
        connector.submit([sms(1)])
        assert wait_for(lambda: sink.receipts)
        assert (sink.receipts[0].status, sink.receipts[0].error_code) == ("undelivered", "undeliv:001")
    finally:
        server.stop()


def test_a_refused_destination_is_a_permanent_error(tmp_path, connect):
    server = Smsc(tmp_path, reject_prefix="4477").start()
    try:
        connector, _ = connect(server)
        (result,) = connector.submit([sms(1)])
        assert not result.accepted
        assert result.error.permanent and not result.error.submitted
    finally:
        server.stop()


def test_mobile_originated_messages_become_inbound(smsc, connect):
    connector, sink = connect(smsc)
    connector.submit([sms(1, body="MO: please answer")])
    assert wait_for(lambda: sink.inbounds)
    inbound = sink.inbounds[0]
    assert (inbound.sender, inbound.recipient, inbound.body) == ("447700900123", "Acme", "STOP")


def test_a_multipart_mobile_originated_message_arrives_as_parts_with_their_header(smsc, connect):
    connector, sink = connect(smsc)
    connector.submit([sms(1, body="MOLONG: tell me more")])
    assert wait_for(lambda: len(sink.inbounds) == 3)
    parts = sorted((inbound.part, inbound.body) for inbound in sink.inbounds)
    reference = parts[0][0][0]
    assert [part for part, _ in parts] == [(reference, 3, 1), (reference, 3, 2), (reference, 3, 3)]
    assert "".join(body for _, body in parts) == (
        "The first part of a long reply, then the second part, and the end.")


def test_no_server_means_the_connector_is_down_and_nothing_was_submitted(tmp_path, connect):
    server = Smsc(tmp_path)  # never started
    connector, _ = connect(server, bind_timeout=0.5)
    with pytest.raises(CarrierError) as caught:
        connector.submit([sms(1)])
    assert not caught.value.submitted


def test_refused_binds_leave_the_connector_down(tmp_path, connect):
    server = Smsc(tmp_path, refuse_binds=True).start()
    try:
        connector, _ = connect(server, bind_timeout=1)
        try:
            results = connector.submit([sms(1)])
        except CarrierError as error:
            assert not error.submitted
        else:
            assert not results[0].accepted
        assert server.submits() == []
    finally:
        server.stop()


def test_a_drop_mid_window_loses_nothing_silently_and_the_bind_comes_back(tmp_path, connect):
    server = Smsc(tmp_path, die_after=30).start()
    try:
        connector, _ = connect(server, window=20)
        results = connector.submit([sms(i) for i in range(60)])
        accepted = [r for r in results if r.accepted]
        unknown = [r for r in results if not r.accepted]
        logged = {entry["id"] for entry in server.submits()}
        assert len(logged) == 29
        # an answer can die with the server, never the other way round
        assert {r.carrier_message_id for r in accepted} <= logged
        assert len(accepted) + len(unknown) == 60
        assert all(r.error.submitted or not r.error.permanent for r in unknown)
        assert len(server.submits()) == 29  # none was retried behind our back
        server.start(die_after=0)
        assert wait_for(lambda: connector.healthy(), timeout=15)
        assert all(r.accepted for r in connector.submit([sms(100 + i) for i in range(5)]))
        assert connector.binds == 2
    finally:
        server.stop()


def test_validity_is_sent_as_smpp_relative_time():
    assert relative_time(None) == ""
    assert relative_time(90061) == "0000010101 01000R".replace(" ", "")


def test_a_throughput_of_zero_means_unlimited_not_one_a_second(smsc):
    """`sms_connector --throughput 0` (benchmarks, a carrier without a cap): only `window` paces."""
    connector = SmppConnector(name="smsc-unlimited", config=SmppConfig.parse(smsc.config()), throughput=0,
                              sink=CollectingSink())
    try:
        connector.submit([sms(0)])  # bind first: the timing below is of the submits alone
        started = time.monotonic()
        results = connector.submit([sms(i) for i in range(1, 11)])
        elapsed = time.monotonic() - started
    finally:
        connector.close()
    assert all(result.accepted for result in results)
    assert elapsed < 3.0  # one a second would take 10 s


def test_a_throughput_still_caps_submits_per_second(smsc):
    connector = SmppConnector(name="smsc-capped", config=SmppConfig.parse(smsc.config()), throughput=5,
                              sink=CollectingSink())
    try:
        connector.submit([sms(0)])
        started = time.monotonic()
        connector.submit([sms(i) for i in range(1, 11)])
        elapsed = time.monotonic() - started
    finally:
        connector.close()
    assert elapsed >= 1.6  # ten slots 0.2 s apart


class RustPanic(BaseException):
    """Stands in for pyo3's PanicException (a BaseException), which smpp34 raises when its Rust
    runtime panics (seen as "I/O driver: Invalid argument" under load)."""


def test_a_panic_in_the_smpp_library_counts_as_a_lost_bind_and_the_connector_binds_again(smsc, connect, monkeypatch):
    real_client = module.smpp34.Client
    panicked = []

    class Session:
        def __init__(self, session):
            self._session = session

        def __getattr__(self, name):
            return getattr(self._session, name)

        async def next(self):
            if not panicked:
                panicked.append(True)
                raise RustPanic("I/O driver: Invalid argument")
            return await self._session.next()

    class Client:
        def __init__(self, **kwargs):
            self._client = real_client(**kwargs)

        async def connect(self):
            return Session(await self._client.connect())

    # The edge of the world here is the third-party library: only its session's first read fails.
    monkeypatch.setattr(module.smpp34, "Client", Client)
    connector, _ = connect(smsc)
    connector.start()
    assert wait_for(lambda: panicked and connector.binds >= 2, timeout=15), connector.binds
    assert wait_for(lambda: connector.healthy(), timeout=15)
    assert all(r.accepted for r in connector.submit([sms(i) for i in range(3)]))
