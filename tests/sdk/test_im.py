import asyncio

import pytest

from cpaas_sdk import Client, Conflict, NotFound
from cpaas_sdk.im import ImClient
from tests.im.conftest import _fresh_im_caches, gateway  # noqa: F401 (fixtures)
from tests.sdk.conftest import FAST


def test_users_tokens_and_bans(client):
    alice = client.im.users.create(user_id="alice", name="Alice")
    assert alice.user_id == "alice"
    assert client.im.users.update("alice", name="Alice A.").name == "Alice A."
    assert client.im.users.retrieve("alice").name == "Alice A."
    assert "alice" in [u.user_id for u in client.im.users.list()]
    token = client.im.tokens.create("alice", ttl_seconds=600)
    assert token.token
    client.im.tokens.revoke("alice", token.id)
    client.im.tokens.revoke_all("alice")
    client.im.users.ban("alice", duration=60)
    client.im.users.unban("alice")
    client.im.users.delete("alice")
    with pytest.raises(NotFound):
        client.im.users.retrieve("alice")


def test_a_user_that_exists_is_a_conflict(client):
    client.im.users.create(user_id="bob")
    with pytest.raises(Conflict) as caught:
        client.im.users.create(user_id="bob")
    assert caught.value.code == "user_exists"


def test_groups_members_messages_and_history(client):
    for name in ("ann", "ben", "cat"):
        client.im.users.create(user_id=name)
    group = client.im.groups.create(name="team", owner="ann", members=["ben"])
    client.im.groups.add_members(group.id, ["cat"])
    assert [m.user_id for m in client.im.groups.members(group.id, limit=1)] == ["ann", "ben", "cat"]
    client.im.groups.mute_member(group.id, "cat", duration=60)
    client.im.groups.remove_member(group.id, "cat")
    client.im.groups.remove_members(group.id, ["ben"])
    assert group.id in [g.id for g in client.im.groups.list()]

    sent = [client.im.messages.send(from_="ann", conversation_id=group.id, type="text", content={"text": f"m{i}"})
            for i in range(3)]
    history = list(client.im.conversations.messages(group.id, limit=2))
    assert [m.seq for m in history] == [1, 2, 3]
    assert client.im.conversations.retrieve(group.id).id == group.id
    assert group.id in [c.id for c in client.im.users.conversations("ann")]
    client.im.messages.recall(sent[-1].id)
    client.im.groups.dismiss(group.id)


def test_chatrooms_broadcasts_settings_and_stats(client, live_client):
    room = client.im.chatrooms.create(name="lobby")
    assert client.im.chatrooms.retrieve(room.id).name == "lobby"
    assert room.id in [r.id for r in client.im.chatrooms.list()]
    client.im.broadcasts.create(type="text", content={"text": "hello all"})
    client.im.chatrooms.delete(room.id)
    assert "blocklist" in client.im.settings.retrieve()
    assert live_client.im.settings.update(blocklist=["spam"]).blocklist == ["spam"]
    client.im.stats.retrieve()


def test_the_folded_in_websocket_client_receives_what_the_rest_api_sends(gateway, provisioned):  # noqa: F811 (the imported fixture)
    """One SDK over the real ASGI app (uvicorn): REST for the user and token, then the IM WebSocket
    client of the same package receives a message the REST client sends."""
    client = Client(provisioned.test_key.secret, base_url=f"http://127.0.0.1:{gateway.port}", retry=FAST)
    client.im.users.create(user_id="dan")
    client.im.users.create(user_id="eve")
    token = client.im.tokens.create("eve").token

    async def receive():
        ws = ImClient(gateway.url, token)
        await ws.start()
        try:
            await asyncio.to_thread(client.im.messages.send, from_="dan", to="eve", type="text",
                                    content={"text": "hi eve"})
            return await ws.next_message(timeout=10)
        finally:
            await ws.close()

    message = asyncio.run(receive())
    client.close()
    assert message["content"] == {"text": "hi eve"}
