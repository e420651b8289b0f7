"""The one way to Redis (``REDIS_URL``: the embedded Valkey by default, a Redis server in production).

Every room takes its client here: one connection pool per process and kind, shared by its
threads (redis-py's pool reconnects by itself in a forked child). A pub/sub listener asks for
``listening=True``: its connection waits for messages indefinitely, where a command's answer must
come within ``COMMAND_TIMEOUT`` seconds (a stalled Redis fails the call instead of hanging it).
"""

from __future__ import annotations

from functools import cache

import redis
import redis.asyncio as aioredis
from django.conf import settings

COMMAND_TIMEOUT = 2.0
CONNECT_TIMEOUT = 1.0
# A silent connection is pinged before use after this long, so one a server or NAT dropped is
# replaced instead of failing the next command.
HEALTH_CHECK_SECONDS = 30


@cache
def redis_client(*, decode_responses: bool = False, listening: bool = False) -> redis.Redis:
    """This process's client: bytes answers unless ``decode_responses``."""
    return redis.Redis.from_url(
        settings.REDIS_URL, decode_responses=decode_responses,
        socket_timeout=None if listening else COMMAND_TIMEOUT, socket_connect_timeout=CONNECT_TIMEOUT,
        health_check_interval=HEALTH_CHECK_SECONDS)


def async_redis_client() -> aioredis.Redis:
    """A new asyncio client for a pub/sub listener (asyncio connections belong to one event loop,
    so it is not shared); the caller closes it."""
    return aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=CONNECT_TIMEOUT,
                                   health_check_interval=HEALTH_CHECK_SECONDS)
