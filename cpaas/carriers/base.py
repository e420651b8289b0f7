"""The interfaces every carrier connector implements. I/O only: no ORM, no Django models.

A connector is created once per process from its configuration and kept (binds stay open). The
messaging room hands it batches of outbound messages and gets one result per message back;
receipts and mobile-originated messages flow the other way through a ``Sink`` the room provides.

Sections: SMS (below). Voice adds its own section beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from cpaas.carriers.credentials import unseal


class CarrierError(Exception):
    """A connector failure. ``permanent``: retrying the same message will not help.

    ``submitted`` says whether the carrier may have received the message anyway (a timeout after
    writing the PDU): such a message must never be submitted to that carrier again.
    """

    def __init__(self, message: str, *, code: str = "carrier_error", permanent: bool = False,
                 submitted: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent
        self.submitted = submitted


# ===== SMS ======================================================================================

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
    config: dict = field(default_factory=dict)
    throughput: int = 100          # messages/second cap, per process; 0 = unlimited
    sink: Sink | None = None
    credentials: str = field(default="", repr=False)  # sealed secrets (cpaas.carriers.credentials)

    kind = "base"

    def secret(self, name: str, default: Any = None) -> Any:
        """A credential, decrypted on first use (when the connector binds or first calls the
        carrier) and kept only in this object. A plain ``config`` entry is a fallback for
        connectors built in code (tests), never for stored rows."""
        opened = self.__dict__.get("_opened")
        if opened is None:
            opened = self.__dict__["_opened"] = unseal(self.credentials)
        return opened.get(name, self.config.get(name, default))

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
