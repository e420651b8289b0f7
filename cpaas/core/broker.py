"""A plain Redis client on the Celery broker, for probes and queue depths (not for publishing).

kombu keeps each queue as a Redis list (LPUSH to publish, BRPOP to consume), so a queue's depth is
its LLEN and its oldest message is at index -1.
"""

from __future__ import annotations

from functools import cache

import redis
from django.conf import settings

from cpaas.core.redis_client import COMMAND_TIMEOUT, CONNECT_TIMEOUT

# The queues of cpaas/celery.py; workers consume them (runplatform starts one worker on all).
QUEUES = ("default", "sms", "voice", "im", "webhooks", "billing")


def redis_url(broker_url: str) -> str:
    """kombu's ``redis+socket://PATH`` is redis-py's ``unix://PATH``; other redis URLs pass as they are."""
    if broker_url.startswith("redis+socket://"):
        return "unix://" + broker_url.removeprefix("redis+socket://")
    return broker_url


@cache
def broker_client() -> redis.Redis:
    return redis.Redis.from_url(redis_url(settings.CELERY_BROKER_URL), socket_timeout=COMMAND_TIMEOUT,
                                socket_connect_timeout=CONNECT_TIMEOUT)
