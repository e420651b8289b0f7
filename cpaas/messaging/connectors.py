"""Operator writes of carrier connectors: the configuration is stored with its credentials sealed."""

from __future__ import annotations

from typing import Any

from cpaas.carriers import registry
from cpaas.carriers.credentials import SECRET_FIELDS, seal
from cpaas.messaging.models import Connector


def connector_save(*, id: str, kind: str, config: dict[str, Any], throughput: int = 100,
                   enabled: bool = True) -> tuple[Connector, bool]:
    """Create or replace connector ``id``. Credentials in ``config`` (``SECRET_FIELDS``) are kept
    only encrypted, apart from the readable configuration. Returns (connector, created).
    Raises ``ConfigError`` (cpaas.carriers.base) for an unknown kind or a configuration that kind
    cannot use, naming the key; nothing is saved then."""
    registry.sms_config(kind, config)
    plain, sealed = seal(config)
    return Connector.objects.update_or_create(
        id=id, defaults={"kind": kind, "config": plain, "credentials": sealed, "throughput": throughput,
                         "enabled": enabled})


def credential_names(connector: Connector, config: dict[str, Any]) -> list[str]:
    """The names of the credentials stored for ``connector`` out of ``config`` (for messages)."""
    return sorted(name for name in config if name in SECRET_FIELDS) if connector.credentials else []
