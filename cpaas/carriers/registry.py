"""Every connector kind, SMS and voice, in one table; and this process's SMS connector instances.

A kind is one package ``cpaas/carriers/<kind>/`` (decision 0940): its configuration class and the
connector it offers for SMS, for voice, or both. The messaging room builds its connectors with
``sms_connector`` (kept per process: binds stay open), the voice engine with ``voice_connector``,
the operator's ``manage.py sms_connector`` checks a configuration with ``sms_config``. A kind not
in the table is an ``UnknownKind`` error naming the ones that are.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cpaas.carriers.base import (
    CarrierError,
    ConfigError,
    ConnectorConfig,
    OutboundSms,
    Sink,
    SmsConnector,
    SubmitResult,
    UnknownKind,
    VoiceConnector,
)
from cpaas.carriers.clock import Clock
from cpaas.carriers.http import HttpConfig, HttpConnector
from cpaas.carriers.sandbox import SandboxConfig, SandboxSmsConnector, SandboxVoiceConnector
from cpaas.carriers.sip import SipConfig, SipVoiceConnector
from cpaas.carriers.smpp import SmppConfig, SmppConnector


@dataclass(frozen=True)
class Kind:
    config: type[ConnectorConfig]
    sms: type[SmsConnector] | None = None
    voice: type[VoiceConnector] | None = None


KINDS: dict[str, Kind] = {
    "sandbox": Kind(SandboxConfig, sms=SandboxSmsConnector, voice=SandboxVoiceConnector),
    "smpp": Kind(SmppConfig, sms=SmppConnector),
    "http": Kind(HttpConfig, sms=HttpConnector),
    "sip": Kind(SipConfig, voice=SipVoiceConnector),
}


def kinds(channel: str) -> list[str]:
    """The kinds offering ``channel`` ("sms" or "voice"), sorted."""
    return sorted(name for name, kind in KINDS.items() if getattr(kind, channel) is not None)


def _kind(channel: str, name: str) -> Kind:
    kind = KINDS.get(name)
    if kind is None or getattr(kind, channel) is None:
        label = "SMS" if channel == "sms" else channel
        raise UnknownKind(f"no {label} connector of kind {name!r} (known: {', '.join(kinds(channel))})",
                          param="kind")
    return kind


def sms_config(kind: str, config: Any) -> ConnectorConfig:
    """``config`` (the operator's JSON object) checked for an SMS connector of ``kind``; raises
    ``ConfigError`` naming the key that is wrong."""
    return _kind("sms", kind).config.parse(config)


def voice_connector(kind: str, *, clock: Clock, config: Any = None) -> VoiceConnector:
    """A new voice connector of ``kind`` (the engine keeps it for its life)."""
    spec = _kind("voice", kind)
    return spec.voice(clock=clock, config=spec.config.parse(config or {}))


# --- SMS connectors of this process --------------------------------------------------------------

log = logging.getLogger(__name__)


@dataclass
class Misconfigured(SmsConnector):
    """Stands for a stored connector whose kind or configuration is wrong (written before it was
    checked, or by hand): every batch fails as "carrier unavailable", so messages take their next
    route and the worker keeps running, and the error says what to fix."""

    problem: str = ""
    kind = "misconfigured"

    def submit(self, messages: Sequence[OutboundSms]) -> list[SubmitResult]:
        raise CarrierError(f"connector {self.name!r} is misconfigured: {self.problem}", code="carrier_unavailable")


def _build(name: str, kind: str, config: dict, throughput: int, sink: Sink | None,
           credentials: str) -> SmsConnector:
    try:
        checked = sms_config(kind, config)
    except ConfigError as exc:
        log.error("SMS connector %s cannot be used: %s (fix it with manage.py sms_connector)", name, exc)
        return Misconfigured(name=name, config=ConnectorConfig(), problem=str(exc))
    return KINDS[kind].sms(name=name, config=checked, throughput=throughput, sink=sink, credentials=credentials)


_lock = threading.Lock()
_connectors: dict[str, tuple[tuple, SmsConnector]] = {}


def sms_connector(name: str, kind: str, config: dict, throughput: int, sink: Sink | None,
                  credentials: str = "") -> SmsConnector:
    """The process's connector for ``name``; rebuilt when its configuration changed.
    ``credentials`` stays sealed here: the connector opens it when it binds."""
    signature = (kind, repr(sorted(config.items())), throughput, credentials)
    with _lock:
        current = _connectors.get(name)
        if current is not None and current[0] == signature:
            return current[1]
        connector = _build(name, kind, config, throughput, sink, credentials)
        if current is not None:
            current[1].close()
        _connectors[name] = (signature, connector)
        return connector


def close_all() -> None:
    with _lock:
        for _, connector in _connectors.values():
            connector.close()
        _connectors.clear()
