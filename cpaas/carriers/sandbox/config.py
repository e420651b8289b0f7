"""The configuration of the sandbox (kind ``sandbox``): nothing is required."""

from __future__ import annotations

from dataclasses import dataclass, field

from cpaas.carriers.base import ConnectorConfig


@dataclass(frozen=True)
class SandboxConfig(ConnectorConfig):
    # How long +15005550003 waits before its "delivered" receipt (docs/sandbox.md).
    delay_seconds: float = field(default=5.0, metadata={"min": 0, "max": 3600})
