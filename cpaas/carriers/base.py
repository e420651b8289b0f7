"""The interfaces every carrier connector implements, SMS and voice. I/O only: no ORM.

A connector is created once per process from its configuration (a ``ConnectorConfig``, parsed
and checked from the JSON object an operator stores) and kept: binds and trunks stay open. Kinds
are looked up in ``cpaas.carriers.registry``; each lives in its own package
``cpaas/carriers/<kind>/`` with ``connector.py`` and ``config.py``.

Sections: configuration, SMS, voice.
"""

from __future__ import annotations

import types
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from datetime import datetime
from typing import Any, Protocol, Self, Union, get_args, get_origin, get_type_hints

from cpaas.carriers.clock import Clock
from cpaas.carriers.credentials import unseal


class CarrierError(Exception):
    """A connector failure, SMS or voice. ``permanent``: retrying the same message will not help.

    ``submitted`` says whether the carrier may have received the message anyway (a timeout after
    writing the PDU): such a message must never be submitted to that carrier again.
    """

    def __init__(self, message: str, *, code: str = "carrier_error", permanent: bool = False,
                 submitted: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent
        self.submitted = submitted


# ===== configuration ============================================================================

class MediaError(CarrierError):
    """A prompt that cannot be played (``Play`` of a URL that is not audio, too large, unreachable):
    the call goes on, the engine reports ``code`` as a ``call.error``."""


class ConfigError(ValueError):
    """A connector configuration that cannot work. ``param`` names the key (dotted when nested)."""

    def __init__(self, message: str, *, param: str = "") -> None:
        super().__init__(f"{param}: {message}" if param else message)
        self.param = param


class UnknownKind(ConfigError):
    """No connector of this kind is registered (for this channel)."""


@dataclass(frozen=True)
class ConnectorConfig:
    """Base of each kind's configuration: a frozen dataclass read from the operator's JSON object.

    Keys are checked against the fields (an unknown key is an error: a typo must not be silently
    ignored), values against the type hints; ``field(metadata={"min": …, "max": …})`` bounds a
    number. Numbers given as strings ("2775") are accepted, as older rows hold them.
    """

    @classmethod
    def parse(cls, data: Any, *, param: str = "") -> Self:
        if not isinstance(data, Mapping):
            raise ConfigError("must be a JSON object", param=param)
        known = {spec.name: spec for spec in fields(cls)}
        for key in data:
            if key not in known:
                raise ConfigError(f"unknown key (known: {', '.join(sorted(known))})", param=_join(param, key))
        hints = get_type_hints(cls)
        values = {}
        for name, spec in known.items():
            if name in data:
                values[name] = _value(hints[name], data[name], _join(param, name), spec.metadata)
            elif spec.default is MISSING and spec.default_factory is MISSING:
                raise ConfigError("is required", param=_join(param, name))
        return cls(**values)


def _join(param: str, key: str) -> str:
    return f"{param}.{key}" if param else key


def _value(hint: Any, value: Any, param: str, bounds: Mapping[str, Any]) -> Any:
    """``value`` checked (and numbers coerced) against the type hint ``hint``."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = (arg for arg in args if arg is not type(None))
        return _value(inner, value, param, bounds)
    if hint is Any:
        return value
    if isinstance(hint, type) and is_dataclass(hint) and issubclass(hint, ConnectorConfig):
        return hint.parse(value, param=param)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError("must be a list", param=param)
        return tuple(_value(args[0], item, f"{param}[{index}]", {}) for index, item in enumerate(value))
    if origin is dict:
        if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
            raise ConfigError("must be a JSON object", param=param)
        return {key: _value(args[1], item, _join(param, key), {}) for key, item in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError("must be true or false", param=param)
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError("must be a string", param=param)
        return value
    if hint in (int, float):
        return _bounded(_number(hint, value, param), param, bounds)
    raise TypeError(f"no rule for {hint!r} ({param})")


def _number(hint: type, value: Any, param: str) -> int | float:
    kind = "an integer" if hint is int else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"must be {kind}", param=param)
    try:
        number = hint(value)
    except ValueError:
        raise ConfigError(f"must be {kind}, not {value!r}", param=param) from None
    if hint is int and isinstance(value, float) and number != value:
        raise ConfigError(f"must be {kind}, not {value!r}", param=param)
    return number


def _bounded(number: int | float, param: str, bounds: Mapping[str, Any]) -> int | float:
    if "min" in bounds and number < bounds["min"]:
        raise ConfigError(f"must be at least {bounds['min']}", param=param)
    if "max" in bounds and number > bounds["max"]:
        raise ConfigError(f"must be at most {bounds['max']}", param=param)
    return number


# ===== SMS ======================================================================================

# What ``OutboundSms.encoding`` names, and the GSM 03.38 alphabet GSM-7 means: the messaging room
# counts segments with it, the SMPP codec (cpaas/carriers/smpp/codec.py) writes the septets.
GSM7 = "GSM-7"
UCS2 = "UCS-2"
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)  # by septet value; 0x1B is the escape to the extension table, not a character
GSM7_ESCAPE = 0x1B
GSM7_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D,
                  "]": 0x3E, "|": 0x40, "€": 0x65}
GSM7_CHARACTERS = frozenset(GSM7_BASIC) - {chr(GSM7_ESCAPE)}  # one septet each


@dataclass(frozen=True)
class OutboundSms:
    message_id: str          # our msg_… id (for logs and the sandbox's determinism)
    to: str                  # E.164
    sender: str              # E.164 or alphanumeric
    parts: tuple[str, ...]   # the body split into segments (messaging.encoding)
    encoding: str            # "GSM-7" | "UCS-2"
    validity_seconds: int | None = None


@dataclass(frozen=True)
class SubmitResult:
    """The carrier's answer for one message: accepted with its id, or an error."""

    message_id: str
    carrier_message_id: str = ""
    error: CarrierError | None = None

    @property
    def accepted(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class DeliveryReceipt:
    connector: str
    carrier_message_id: str
    status: str              # "delivered" | "undelivered"
    error_code: str = ""
    delay_seconds: float = 0  # the sandbox's "delivered after a delay"
    raw: str = ""


@dataclass(frozen=True)
class InboundSms:
    connector: str
    sender: str              # the handset, E.164 when it parses
    recipient: str           # our number
    body: str
    carrier_message_id: str = ""
    received_at: datetime | None = None
    # One part of a concatenated (multipart) message: (reference, total, index from 1).
    part: tuple[int, int, int] | None = None


class Sink(Protocol):
    """Where a connector sends what arrives from the network (provided by the messaging room)."""

    def receipt(self, receipt: DeliveryReceipt) -> None: ...
    def inbound(self, message: InboundSms) -> None: ...
    # Optional: ``submitted(connector, carrier_message_id)``, called as the carrier accepts a
    # message, so the sink can hold its receipt for the submit's own status update.


@dataclass
class SmsConnector:
    """Base of every SMS connector. Subclasses implement ``submit``; ``close`` frees binds."""

    name: str
    config: ConnectorConfig  # the kind's typed configuration (its package's config.py)
    throughput: int = 100          # messages/second cap, per process; 0 = unlimited
    sink: Sink | None = None
    credentials: str = field(default="", repr=False)  # sealed secrets (cpaas.carriers.credentials)

    kind = "base"

    def secret(self, name: str, default: Any = None) -> Any:
        """A credential, decrypted on first use (when the connector binds or first calls the
        carrier) and kept only in this object. The field of ``config`` is a fallback for connectors
        built in code (tests), never set for stored rows (credentials are sealed apart)."""
        opened = self.__dict__.get("_opened")
        if opened is None:
            opened = self.__dict__["_opened"] = unseal(self.credentials)
        return opened.get(name, getattr(self.config, name, default))

    def __post_init__(self) -> None:
        """Subclasses set up their clients here (binds open lazily, on first submit)."""

    def submit(self, messages: Sequence[OutboundSms]) -> list[SubmitResult]:
        """Submit a batch; one result per message in the same order. Never raises per message:
        a failure is a result with ``error``. Raises CarrierError only when the whole connector
        is unusable (down, bind refused) and nothing was submitted."""
        raise NotImplementedError

    def healthy(self) -> bool:
        return True

    def close(self) -> None:
        return None


# ===== voice ====================================================================================
#
# What the call engine (cpaas.voice.engine) asks of a telephone network. The engine drives every
# call through these coroutines; a connector reports back through return values and awaitables.
# The sandbox network (cpaas.carriers.sandbox.voice) implements it in memory; a SIP connector
# implements it over a SIP stack: ``originate`` sends an INVITE, reports 180/183 through
# ``on_ringing`` and returns on the final response (200 → answered, 486 → busy, 408/480/487 →
# no-answer, other → failed); ``wait_hangup`` resolves on the remote BYE; media verbs map to RTP
# playback, DTMF (RFC 4733) collection and recording; ``bridge`` joins two dialogs' media.
# Time goes through a Clock (cpaas.carriers.clock).

ANSWERED = "in-progress"
BUSY = "busy"
NO_ANSWER = "no-answer"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class LegEvent:
    """Something the network reports about a leg: ``ringing`` or ``ended`` (remote hangup)."""

    leg_id: str
    kind: str
    at: datetime
    cause: str = ""
    sip_code: int | None = None


@dataclass(frozen=True, slots=True)
class OriginateOutcome:
    """How an originate attempt ended: answered (``in-progress``), ``busy``, ``no-answer``, ``failed``."""

    status: str
    at: datetime
    cause: str = ""
    sip_code: int | None = None

    @property
    def answered(self) -> bool:
        return self.status == ANSWERED


@dataclass(frozen=True, slots=True)
class RecordedAudio:
    wav: bytes
    duration_seconds: int
    channels: int = 1
    sample_rate: int = 8000


RingingCallback = Callable[[LegEvent], Awaitable[None]]


class InboundHandler(Protocol):
    """Who takes calls the network offers (the voice engine): the new leg's id, or a refusal
    carrying the ``sip_code`` to answer with."""

    async def __call__(self, *, to: str, from_: str) -> Any: ...


class VoiceConnector(ABC):
    """One telephone network. Leg ids are the platform's (``leg_…``); calls are ``call_…``."""

    kind = "base"

    def __init__(self, *, clock: Clock, config: ConnectorConfig | None = None) -> None:
        self.clock = clock
        self.config = config
        self.inbound: InboundHandler | None = None  # set by the engine's runtime to take inbound calls

    async def start(self) -> None:
        """Open connections (registrations, trunks). Called once before the first call."""
        return None

    async def close(self) -> None:
        """Release everything; live legs are hung up."""
        return None

    def release(self, leg_id: str) -> None:
        """Forget a finished leg's state (called once the engine is done with it)."""
        return None

    @abstractmethod
    async def originate(self, *, leg_id: str, to: str, from_: str, timeout: int,
                        on_ringing: RingingCallback) -> OriginateOutcome:
        """Place a leg; report ringing through ``on_ringing``; return when answered or failed.

        Give up after ``timeout`` seconds of ringing (``no-answer``). Cancelling the awaiting task
        cancels the attempt (SIP CANCEL).
        """

    async def answer(self, leg_id: str) -> datetime:
        """Answer an inbound leg (the handler gave it its id); returns when media flows. Networks
        that offer no inbound calls never get here."""
        raise NotImplementedError(f"{self.kind} offers no inbound calls")

    @abstractmethod
    async def wait_hangup(self, leg_id: str) -> LegEvent:
        """Resolve when the far end of an answered leg hangs up."""

    @abstractmethod
    async def hangup(self, leg_id: str, *, cause: str = "normal_clearing") -> datetime:
        """Hang up a leg from the platform side; returns when it ended."""

    @abstractmethod
    async def say(self, leg_id: str, text: str, *, voice: str = "", language: str = "") -> None:
        """Speak ``text`` (text to speech) to the leg; return when done."""

    @abstractmethod
    async def play(self, leg_id: str, url: str) -> None:
        """Play the audio at ``url`` to the leg; return when done. Raises ``MediaError`` when the
        URL gives no playable audio (the call continues)."""

    @abstractmethod
    async def collect_digits(self, leg_id: str, *, max_digits: int, timeout: int,
                             finish_key: str) -> str:
        """Collect DTMF until ``max_digits``, ``finish_key`` (not included) or ``timeout`` of silence."""

    @abstractmethod
    async def record(self, leg_id: str, *, max_length: int, timeout: int,
                     finish_key: str) -> RecordedAudio:
        """Record what the leg says until silence, ``finish_key`` or ``max_length``."""

    @abstractmethod
    async def bridge(self, leg_a: str, leg_b: str) -> None:
        """Join the media of two answered legs."""

    @abstractmethod
    async def start_recording(self, key: str, leg_ids: list[str]) -> None:
        """Start recording the audio of ``leg_ids`` (a call or a bridge) under ``key``."""

    @abstractmethod
    async def stop_recording(self, key: str) -> RecordedAudio | None:
        """Stop the recording started under ``key`` and return it (None if none was running)."""
