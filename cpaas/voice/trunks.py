"""SIP trunks as rows (``SipTrunk``): saved by the operator (``manage.py sip_trunk``), checked by
the sip kind's configuration, the password sealed apart; loaded by the engine's runtime into a
``TrunkRouter`` (cpaas/carriers/sip/router.py)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from cpaas.carriers.credentials import seal, unseal
from cpaas.carriers.sip.config import SipConfig
from cpaas.carriers.sip.router import TrunkRoute
from cpaas.voice.models import SipTrunk


def trunk_save(*, id: str, config: dict[str, Any], prefixes: list[str], priority: int = 100,
               enabled: bool = True) -> tuple[SipTrunk, bool]:
    """Create or update a trunk; ``ConfigError`` (naming the key) when the configuration cannot work."""
    SipConfig.parse(config)
    plain, credentials = seal(config)
    trunk, created = SipTrunk.objects.update_or_create(id=id, defaults={
        "config": plain, "credentials": credentials, "prefixes": list(prefixes), "priority": priority,
        "enabled": enabled, "updated_at": timezone.now()})
    return trunk, created


def trunk_routes() -> list[TrunkRoute]:
    """The enabled trunks with their secrets opened (in the worker, at engine start)."""
    return [TrunkRoute(name=row.id, prefixes=tuple(row.prefixes), priority=row.priority,
                       config=SipConfig.parse({**row.config, **unseal(row.credentials)}))
            for row in SipTrunk.objects.filter(enabled=True).order_by("priority", "id")]


def trunk_channels() -> int | None:
    """The channels of all enabled trunks together; None when there are no rows; 0 when one is unlimited."""
    rows = list(SipTrunk.objects.filter(enabled=True).values_list("config", flat=True))
    if not rows:
        return None
    channels = [int(config.get("channels") or 0) for config in rows]
    return 0 if 0 in channels else sum(channels)
