"""The configuration of a SIP trunk (kind ``sip``): where the carrier's SIP server is, how we
authenticate and present caller id, which codecs, and the worker's own addresses."""

from __future__ import annotations

from dataclasses import dataclass, field

from cpaas.carriers.base import ConfigError, ConnectorConfig
from cpaas.carriers.sip.g711 import PCMA, PCMU

CODECS = {"PCMU": PCMU, "PCMA": PCMA}


@dataclass(frozen=True)
class SipConfig(ConnectorConfig):
    host: str = "127.0.0.1"          # the trunk's SIP server
    port: int = field(default=5060, metadata={"min": 1, "max": 65535})
    transport: str = "udp"           # only UDP is implemented (decision 1101)
    username: str = ""               # digest credentials, when the trunk challenges
    password: str = ""
    from_domain: str = ""            # the host of our From URI; the trunk's host when empty
    caller_id: str = "from"          # "from" | "pai" | "both": where the caller's number goes
    plus: bool = True                # numbers as +E.164 in URIs (false: digits only)
    codecs: tuple[str, ...] = ("PCMU", "PCMA")
    channels: int = field(default=0, metadata={"min": 0})            # concurrent calls; 0 = unlimited
    calls_per_second: int = field(default=0, metadata={"min": 0})    # 0 = unlimited
    edge: str = ""                   # host:port reaching sip: targets (SIP_EDGE_ADDRESS); empty: the trunk
    edge_secret: str = ""            # signs INVITEs to the edge (X-Cpaas-Trust, decision 1140); from SECRET_KEY
    listen_host: str = "127.0.0.1"   # the worker's SIP socket (SIP_WORKER_ADDRESS sets both)
    listen_port: int = field(default=0, metadata={"min": 0, "max": 65535})
    rtp_host: str = "127.0.0.1"      # the address RTP sockets bind and SDP advertises
    max_play_bytes: int = field(default=8 * 1024 * 1024, metadata={"min": 1024})  # a Play URL's audio
    play_timeout: float = field(default=10.0, metadata={"min": 1, "max": 60})      # fetching it
    response_timeout: float = field(default=5.0, metadata={"min": 0.5, "max": 32})  # no answer at all → failed

    def __post_init__(self) -> None:
        if self.transport != "udp":
            raise ConfigError("only udp is supported", param="transport")
        if self.caller_id not in ("from", "pai", "both"):
            raise ConfigError("must be from, pai or both", param="caller_id")
        if self.edge and not self.edge.rpartition(":")[2].isdigit():
            raise ConfigError("must be host:port", param="edge")
        unknown = [codec for codec in self.codecs if codec not in CODECS]
        if unknown or not self.codecs:
            raise ConfigError(f"must be a non-empty list of {', '.join(CODECS)}", param="codecs")

    @property
    def payload_types(self) -> tuple[int, ...]:
        return tuple(CODECS[codec] for codec in self.codecs)
