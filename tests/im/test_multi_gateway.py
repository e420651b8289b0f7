"""Two gateway processes behind one Redis: a message sent through one reaches a user on the other."""

import asyncio

from cpaas_sdk.im import ImClient
from tests.im.test_chaos import two_gateways  # noqa: F401  (fixture)


def test_two_gateway_processes_deliver_to_each_other_through_redis(two_gateways, token_for, api):  # noqa: F811
    alice, bob = token_for("alice"), token_for("bob")
    one, two = two_gateways

    async def scenario():
        a = ImClient(one.url, alice)
        b = ImClient(two.url, bob)
        await a.start()
        await b.start()
        sent = await a.send(to="bob", content={"text": "across processes"})
        got = await b.next_message()
        assert (got["id"], got["seq"]) == (sent["id"], 1)
        await b.send(to="alice", content={"text": "and back"})
        assert (await a.next_message())["seq"] == 1
        assert (await a.next_message())["seq"] == 2
        # revoking through the API closes the session held by the other process
        await asyncio.get_running_loop().run_in_executor(None, lambda: api.delete("/v1/im/users/bob/tokens"))
        for _ in range(50):
            if b.closed is not None:
                break
            await asyncio.sleep(0.1)
        assert b.closed is not None and b.closed.close_code == 4001
        await a.close()
        await b.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))
