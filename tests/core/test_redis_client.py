"""The one Redis client factory."""

import asyncio

from cpaas.core.redis_client import async_redis_client, redis_client


def test_one_client_per_process_and_kind():
    assert redis_client() is redis_client()
    assert redis_client(decode_responses=True) is not redis_client()
    redis_client().set("cpaas:test:factory", "1", ex=5)
    assert redis_client().get("cpaas:test:factory") == b"1"
    assert redis_client(decode_responses=True).get("cpaas:test:factory") == "1"


def test_a_listener_waits_without_a_command_timeout():
    assert redis_client().connection_pool.connection_kwargs["socket_timeout"] is not None
    assert redis_client(listening=True).connection_pool.connection_kwargs["socket_timeout"] is None


def test_the_async_client_reaches_the_same_server():
    async def roundtrip():
        client = async_redis_client()
        try:
            return await client.get("cpaas:test:factory")
        finally:
            await client.aclose()

    redis_client().set("cpaas:test:factory", "2", ex=5)
    assert asyncio.run(roundtrip()) == b"2"
