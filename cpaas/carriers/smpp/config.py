"""The configuration of an SMPP connector (``Connector.config``, ``manage.py sms_connector --config``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cpaas.carriers.base import ConnectorConfig


@dataclass(frozen=True)
class SmppConfig(ConnectorConfig):
    """One SMSC account. ``password`` is a credential: stored sealed apart from the rest
    (cpaas.carriers.credentials) and opened only by the connector, when it binds."""

    host: str
    port: int = field(metadata={"min": 1, "max": 65535})
    system_id: str = ""
    password: str = field(default="", repr=False)
    system_type: str = ""
    window: int = field(default=50, metadata={"min": 1})  # submit_sm awaiting an answer, per bind
    # Unread deliver_sm a bind buffers before it answers ESME_RSYSERR (the SMSC retries later).
    inbound_capacity: int = field(default=50_000, metadata={"min": 1})
    source_ton: int = field(default=5, metadata={"min": 0, "max": 6})  # for alphanumeric senders
    source_npi: int = field(default=0, metadata={"min": 0, "max": 18})
    submit_timeout: float = field(default=10.0, metadata={"min": 0.1})  # seconds for a submit_sm_resp
    bind_timeout: float = field(default=5.0, metadata={"min": 0.1})  # seconds to connect and bind
