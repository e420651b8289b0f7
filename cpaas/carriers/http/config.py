"""The configuration of an HTTP upstream (``Connector.config``, ``manage.py sms_connector --config``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cpaas.carriers.base import ConfigError, ConnectorConfig

DEFAULT_BODY = {"to": "{to}", "from": "{from}", "text": "{body}"}


@dataclass(frozen=True)
class ReceiptFields(ConnectorConfig):
    """Where a receipt callback carries the upstream's message id, its state and error, and which
    states are final (any other state is interim and changes nothing)."""

    id_path: str = "id"
    status_path: str = "status"
    error_path: str = "error"
    delivered: tuple[str, ...] = ("delivered", "DELIVRD")
    undelivered: tuple[str, ...] = ("undelivered", "failed", "rejected", "UNDELIV", "EXPIRED")


@dataclass(frozen=True)
class InboundFields(ConnectorConfig):
    """Where a mobile-originated callback carries the sender, our number, the text and its id."""

    from_path: str = "from"
    to_path: str = "to"
    body_path: str = "text"
    id_path: str = "id"


@dataclass(frozen=True)
class HttpConfig(ConnectorConfig):
    """One upstream provider's HTTP API. ``headers`` (they carry its API key) and
    ``callback_token`` are credentials: stored sealed, opened only by the connector."""

    url: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    # The JSON body posted per message; "{to}", "{from}", "{body}", "{message_id}", "{encoding}"
    # and "{segments}" in its strings are replaced.
    body: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_BODY))
    id_path: str = "id"  # where the upstream's message id is in its answer ("data.id")
    callback_token: str = field(default="", repr=False)  # the upstream sends it in X-Callback-Token
    receipt: ReceiptFields = field(default_factory=ReceiptFields)
    inbound: InboundFields | None = None  # without it, callbacks carry receipts only
    concurrency: int = field(default=16, metadata={"min": 1, "max": 256})  # requests at once per batch
    timeout: float = field(default=10.0, metadata={"min": 0.1})  # seconds per request

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("must be an http:// or https:// URL with a host", param="url")
