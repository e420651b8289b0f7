"""One table of connector kinds for SMS and voice; unknown kinds and bad stored rows say so."""

import asyncio

import pytest

from cpaas.carriers import registry
from cpaas.carriers.base import CarrierError, OutboundSms, UnknownKind
from cpaas.carriers.clock import VirtualClock
from cpaas.carriers.http import HttpConnector
from cpaas.carriers.sandbox import SandboxConfig, SandboxSmsConnector, SandboxVoiceConnector
from cpaas.carriers.smpp import SmppConnector
from cpaas.messaging.models import Connector


@pytest.fixture(autouse=True)
def _fresh():
    yield
    registry.close_all()


def sms(to="+15005550000"):
    return OutboundSms(message_id="msg_1", to=to, sender="Acme", parts=("hi",), encoding="GSM-7")


def test_every_kind_names_its_config_and_the_channels_it_serves():
    assert registry.kinds("sms") == ["http", "sandbox", "smpp"]
    assert registry.kinds("voice") == ["sandbox", "sip"]
    for kind in registry.KINDS.values():
        connectors = [cls for cls in (kind.sms, kind.voice) if cls is not None]
        assert connectors and all(cls.__module__.rsplit(".", 2)[0] == kind.config.__module__.rsplit(".", 2)[0]
                                  for cls in connectors)  # one package per kind


def test_the_connector_rows_offer_exactly_the_registered_sms_kinds():
    # The column's choices are the one other list of kinds (docs/carriers.md, "Add a connector kind").
    assert sorted(Connector.Kind.values) == registry.kinds("sms")


def test_sms_connectors_are_built_by_kind_with_their_typed_config():
    connector = registry.sms_connector("sbx", "sandbox", {"delay_seconds": "2"}, 10, None)
    assert isinstance(connector, SandboxSmsConnector) and connector.config == SandboxConfig(delay_seconds=2.0)
    assert isinstance(registry.sms_connector("up", "http", {"url": "https://up.example/sms"}, 10, None), HttpConnector)
    assert isinstance(registry.sms_connector("smsc", "smpp", {"host": "h", "port": 2775}, 10, None), SmppConnector)


def test_the_process_keeps_a_connector_until_its_configuration_changes():
    first = registry.sms_connector("sbx", "sandbox", {}, 10, None)
    assert registry.sms_connector("sbx", "sandbox", {}, 10, None) is first
    changed = registry.sms_connector("sbx", "sandbox", {"delay_seconds": 1}, 10, None)
    assert changed is not first and changed.config.delay_seconds == 1


def test_an_unknown_kind_names_the_known_ones_per_channel():
    with pytest.raises(UnknownKind, match=r"no SMS connector of kind 'smtp' \(known: http, sandbox, smpp\)"):
        registry.sms_config("smtp", {})
    with pytest.raises(UnknownKind, match=r"no voice connector of kind 'smpp' \(known: sandbox, sip\)"):
        registry.voice_connector("smpp", clock=VirtualClock())


def test_voice_connectors_come_from_the_same_table():
    clock = VirtualClock()
    connector = registry.voice_connector("sandbox", clock=clock)
    assert isinstance(connector, SandboxVoiceConnector) and connector.clock is clock


def test_a_stored_row_the_kind_cannot_use_fails_its_batches_as_unavailable_and_names_the_problem(caplog):
    # Written by hand or before configurations were checked: the worker keeps running and the
    # message takes its next route (a transient failure), the log and the error say what to fix.
    connector = registry.sms_connector("acme", "smpp", {"host": "h", "port": 2775, "windw": 5}, 10, None)
    with pytest.raises(CarrierError) as caught:
        connector.submit([sms()])
    assert caught.value.code == "carrier_unavailable" and not caught.value.permanent
    assert "acme" in str(caught.value) and "windw: unknown key" in str(caught.value)
    assert "windw: unknown key" in caplog.text
    assert isinstance(registry.sms_connector("old", "smtp", {}, 10, None), registry.Misconfigured)


def test_the_sandbox_voice_connector_places_a_call_by_kind():
    async def main():
        clock = VirtualClock()
        connector = registry.voice_connector("sandbox", clock=clock)
        try:
            async def ringing(event):
                return None
            return await connector.originate(leg_id="leg_1", to="+15005550001", from_="+15005559000", timeout=30,
                                             on_ringing=ringing)
        finally:
            clock.close()

    assert asyncio.run(main()).status == "busy"
