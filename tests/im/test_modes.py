"""Test and live IM users of one app never meet: not over the API, not over the gateway."""

import asyncio

import pytest

from cpaas_sdk.im import ImClient, ImError


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def token(client, user_id: str) -> str:
    assert client.post("/v1/im/users", {"user_id": user_id}, format="json").status_code == 201
    return client.post(f"/v1/im/users/{user_id}/tokens", {}, format="json").json()["token"]


def test_a_test_user_cannot_reach_live_users_groups_or_rooms_over_the_gateway(gateway, api, live_api):
    tester = token(api, "tess")
    token(live_api, "lisa")
    token(live_api, "leo")
    group = live_api.post("/v1/im/groups", {"members": ["lisa", "leo"]}, format="json").json()
    room = live_api.post("/v1/im/chatrooms", {"name": "live room"}, format="json").json()

    async def scenario():
        c = ImClient(gateway.url, tester)
        await c.start()
        for call in (c.send(conversation_id=group["id"], content={"text": "x"}),
                     c.send(to="lisa", content={"text": "x"}), c.join(room["id"])):
            with pytest.raises(ImError) as error:
                await call
            assert error.value.code == "not_found"
        await c.close()

    run(scenario())


def test_a_broadcast_reaches_the_users_of_its_mode_only(gateway, api, live_api):
    tester, liver = token(api, "tess"), token(live_api, "lisa")

    async def scenario():
        t, lv = ImClient(gateway.url, tester), ImClient(gateway.url, liver)
        await t.start()
        await lv.start()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: api.post(
            "/v1/im/broadcasts", {"type": "text", "content": {"text": "test only"}}, format="json"))
        await loop.run_in_executor(None, lambda: live_api.post(
            "/v1/im/broadcasts", {"type": "text", "content": {"text": "live only"}}, format="json"))
        assert (await t.next_message())["content"]["text"] == "test only"
        assert (await lv.next_message())["content"]["text"] == "live only"  # not "test only" first
        await t.close()
        await lv.close()

    run(scenario())


def test_im_events_carry_the_mode_of_their_conversation(db, api, live_api, app):
    from cpaas.im.outbox import publish_all
    from webhooks.models import Event

    for client, name in ((api, "tess"), (live_api, "lisa")):
        client.post("/v1/im/users", {"user_id": name}, format="json")
        client.post("/v1/im/broadcasts", {"type": "text", "content": {"text": name}}, format="json")
    publish_all()
    created = {e.data["content"]["text"]: e.livemode for e in Event.objects.filter(type="im.message.created")}
    assert created == {"tess": False, "lisa": True}
    assert [e["data"]["content"]["text"] for e in api.get("/v1/events?type=im.message.created").json()["data"]] \
        == ["tess"]


def test_a_test_keys_stats_count_neither_live_users_online_nor_live_daily_actives(gateway, api, live_api):
    """Decision 0892: online and daily-active figures are kept per mode in Redis."""
    liver, leo = token(live_api, "lisa"), token(live_api, "leo")
    tester = token(api, "tess")

    async def scenario():
        clients = [ImClient(gateway.url, secret) for secret in (liver, leo, tester)]
        for client in clients:
            await client.start()
        loop = asyncio.get_running_loop()
        stats = await loop.run_in_executor(None, lambda: (api.get("/v1/im/stats").json(),
                                                          live_api.get("/v1/im/stats").json()))
        for client in clients:
            await client.close()
        return stats

    test_stats, live_stats = run(scenario())
    assert (test_stats["online"], test_stats["dau_today"], test_stats["users"]) == (1, 1, 1)
    assert (live_stats["online"], live_stats["dau_today"], live_stats["users"]) == (2, 2, 2)
