"""The gateway bus: how a message committed in one process reaches sockets held by every gateway.

Every gateway process subscribes to one Redis pub/sub channel (gateway/hub.py) and each
publisher (a gateway handling a send, or an API worker) PUBLISHes one JSON document per event.
Each gateway delivers the event to the sockets it holds locally.

Pub/sub is at-most-once: a gateway that misses an event (restart, reconnect to Redis) still
delivers every stored message, because ordering and completeness come from the database (see
gateway/session.py: a seq gap is filled from history, a reconnecting client syncs from cursors).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from cpaas.core.redis_client import redis_client
from cpaas.im import conf

log = logging.getLogger(__name__)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def publish(event: dict[str, Any]) -> None:
    """PUBLISH one event to every gateway; each delivers it to the sockets it holds."""
    try:
        redis_client().publish(conf.BUS_CHANNEL, dumps(event))
    except Exception:
        # The message is committed; a client that missed it gets it on its next sync.
        log.exception("im bus publish failed")
