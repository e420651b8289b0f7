"""Stage ``dispatch → route``: which connectors may carry a message, best first, and the
connector object for a name.

The routing table is a per-process copy refreshed every 5 s (the API reads it too, to refuse a
live send no route serves). Test mode always stays in the sandbox; live traffic never reaches it.
"""

from __future__ import annotations

from cpaas.carriers import registry
from cpaas.core.ttlcache import TtlCache
from cpaas.messaging import conf
from cpaas.messaging.models import Connector, Message, Mode, Route
from cpaas.messaging.sink import sink

SANDBOX = "sandbox"

_routes_cache: TtlCache[str, tuple[list[Route], dict[str, Connector]]] = TtlCache(5.0)


def _routing_table() -> tuple[list[Route], dict[str, Connector]]:
    return _routes_cache.get_or_load("table", _routing_table_load)


def _routing_table_load() -> tuple[list[Route], dict[str, Connector]]:
    connectors = {row.id: row for row in Connector.objects.filter(enabled=True)}
    return list(Route.objects.filter(connector_id__in=list(connectors))), connectors


def routing_reset() -> None:
    """Forget the cached table (tests; an operator's change otherwise shows within 5 s)."""
    _routes_cache.clear()


def route_candidates(message: Message) -> list[str]:
    """Connector names for this message, best first. Test mode always stays in the sandbox; live
    traffic never reaches it (no route, and no sandbox fallback: the message fails ``no_route``)."""
    if message.mode == Mode.TEST:
        return [SANDBOX]
    routes, _ = _routing_table()
    matching = []
    for route in routes:
        if route.app_id not in (None, message.app_id) or route.connector_id == SANDBOX:
            continue
        if route.prefix and not message.to.startswith(route.prefix):
            continue
        if route.country and route.country != message.country:
            continue
        specificity = (0 if route.app_id else 1, -len(route.prefix), 0 if route.country else 1)
        matching.append((specificity, route.priority, route.connector_id))
    names: list[str] = []
    for _, _, name in sorted(matching):
        if name not in names:
            names.append(name)
    if not names and conf.FALLBACK_CONNECTOR and conf.FALLBACK_CONNECTOR != SANDBOX:
        names.append(conf.FALLBACK_CONNECTOR)
    return names



def connector_for(name: str):
    """The connector ``name`` of this process, pushing into this process's sink; None when it is
    not enabled. Connectors keep their binds across calls (the registry caches them)."""
    if name == SANDBOX:
        _, connectors = _routing_table()
        row = connectors.get(SANDBOX)
        config = row.config if row else {}
        return registry.sms_connector(SANDBOX, "sandbox", config, row.throughput if row else 1000, sink())
    _, connectors = _routing_table()
    row = connectors.get(name)
    if row is None:
        return None
    return registry.sms_connector(row.id, row.kind, row.config, row.throughput, sink(), row.credentials)

