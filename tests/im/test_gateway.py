import asyncio
import json

import pytest
import websockets
from websockets.asyncio.client import connect

from cpaas_sdk.im import ConnectionRefused, ImClient, ImError


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def _close_code(url: str) -> tuple[int, str]:
    async with connect(url) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def _next_of(ws, kind: str) -> dict:
    while True:
        frames = json.loads(await asyncio.wait_for(ws.recv(), 5))
        for frame in frames if isinstance(frames, list) else [frames]:
            if frame["type"] == kind:
                return frame


def test_a_bad_or_missing_token_closes_with_4001_and_a_reason(gateway):
    assert run(_close_code(gateway.url + "?token=imtk_nope")) == (4001, "invalid token")
    assert run(_close_code(gateway.url)) == (4001, "missing token")


def test_an_expired_token_closes_with_4001(gateway, token_for):
    from django.utils import timezone

    from cpaas.im.models import ImToken

    token = token_for("alice")
    ImToken.objects.update(expires_at=timezone.now())
    assert run(_close_code(f"{gateway.url}?token={token}")) == (4001, "token expired")


def test_a_banned_user_is_refused_with_4003(gateway, token_for, api):
    token = token_for("alice")
    api.post("/v1/im/users/alice/ban", {"duration": 60}, format="json")
    assert run(_close_code(f"{gateway.url}?token={token}")) == (4003, "user banned")


def test_revoking_a_token_or_banning_closes_live_sessions_at_once(gateway, token_for, api):
    token = token_for("alice")

    async def scenario(action):
        async with connect(f"{gateway.url}?token={token}") as ws:
            await _next_of(ws, "hello")
            await asyncio.get_running_loop().run_in_executor(None, action)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), 5)
            return closed.value.rcvd.code

    assert run(scenario(lambda: api.post("/v1/im/users/alice/ban", {"duration": 60}, format="json"))) == 4003
    api.delete("/v1/im/users/alice/ban")
    assert run(scenario(lambda: api.delete("/v1/im/users/alice/tokens"))) == 4001


def test_bad_frames_get_error_frames_and_the_connection_stays(gateway, token_for, api):
    token = token_for("alice")
    token_for("bob")
    group = api.post("/v1/im/groups", {"members": ["bob"]}, format="json").json()

    async def scenario():
        async with connect(f"{gateway.url}?token={token}") as ws:
            await _next_of(ws, "hello")
            await ws.send("not json")
            assert (await _next_of(ws, "error"))["code"] == "invalid_json"
            await ws.send(json.dumps({"type": "teleport"}))
            assert (await _next_of(ws, "error"))["code"] == "unknown_frame"
            await ws.send(json.dumps({"type": "sync", "cursors": {}}))
            await _next_of(ws, "synced")
            await ws.send(json.dumps({"type": "send", "id": "1", "conversation_id": group["id"],
                                      "content": {"text": "hi"}}))
            error = await _next_of(ws, "error")
            assert (error["id"], error["code"]) == ("1", "not_a_member")
            await ws.send(json.dumps({"type": "send", "id": "2", "to": "bob", "content": {"text": "x" * 33_000}}))
            error = await _next_of(ws, "error")
            assert (error["id"], error["code"]) == ("2", "message_too_large")
            await ws.send(json.dumps({"type": "ping"}))
            assert (await _next_of(ws, "pong"))["type"] == "pong"

    run(scenario())


def test_frames_with_text_that_cannot_be_stored_get_a_permanent_error(gateway, token_for):
    from cpaas.im.models import Message

    token = token_for("alice")
    token_for("bob")

    async def scenario():
        async with connect(f"{gateway.url}?token={token}") as ws:
            await ws.send(json.dumps({"type": "sync"}))
            await _next_of(ws, "synced")
            frames = [
                ('{"type": "send", "id": "n", "to": "bob", "content": {"text": "a\\u0000b"}}', "content.text"),
                ('{"type": "send", "id": "s", "to": "bob", "content": {"text": "\\ud800"}}', "content.text"),
                ('{"type": "send", "id": "k", "to": "bob", "content": {"te\\u0000xt": "x"}}', "content.te\x00xt"),
            ]
            for text, param in frames:
                await ws.send(text)
                error = await _next_of(ws, "error")
                assert (error["code"], error["retryable"]) == ("invalid_characters", False)
                assert error["param"] == param
            await ws.send("[" * 5000 + "]" * 5000)
            error = await _next_of(ws, "error")
            assert (error["code"], error["retryable"]) == ("nesting_too_deep", False)
            await ws.send(json.dumps({"type": "send", "id": "ok", "to": "bob", "content": {"text": "fine"}}))
            assert (await _next_of(ws, "sent"))["id"] == "ok"  # the connection stays usable

    run(scenario())
    assert list(Message.objects.values_list("content", flat=True)) == [{"text": "fine"}]


def test_error_frames_say_whether_a_retry_can_succeed(gateway, token_for, monkeypatch):
    from cpaas.im import conf

    monkeypatch.setattr(conf, "CONNECTION_SEND_RATE", 1)
    monkeypatch.setattr(conf, "CONNECTION_SEND_BURST", 1)
    token = token_for("alice")

    async def scenario():
        async with connect(f"{gateway.url}?token={token}") as ws:
            await ws.send(json.dumps({"type": "sync"}))
            await _next_of(ws, "synced")
            await ws.send(json.dumps({"type": "send", "id": "1", "to": "nobody", "content": {"text": "x"}}))
            first = await _next_of(ws, "error")
            await ws.send(json.dumps({"type": "send", "id": "2", "to": "nobody", "content": {"text": "x"}}))
            second = await _next_of(ws, "error")
            return first, second

    first, second = run(scenario())
    assert (first["code"], first["retryable"]) == ("not_found", False)
    assert (second["code"], second["retryable"]) == ("rate_limited", True)


def test_a_nul_in_the_device_name_is_refused_for_good(gateway, token_for):
    token = token_for("alice")
    assert run(_close_code(f"{gateway.url}?token={token}&device=a%00b")) == (1008, "invalid characters in the query")


def test_sending_faster_than_the_rate_limit_gets_rate_limited_frames(gateway, token_for, monkeypatch):
    from cpaas.im import conf

    monkeypatch.setattr(conf, "CONNECTION_SEND_RATE", 1)
    monkeypatch.setattr(conf, "CONNECTION_SEND_BURST", 2)
    token = token_for("alice")
    token_for("bob")

    async def scenario():
        async with connect(f"{gateway.url}?token={token}") as ws:
            await ws.send(json.dumps({"type": "sync"}))
            await _next_of(ws, "synced")
            for i in range(5):
                await ws.send(json.dumps({"type": "send", "id": str(i), "to": "bob", "content": {"text": "x"}}))
            error = await _next_of(ws, "error")
            assert error["code"] == "rate_limited"
            await ws.send(json.dumps({"type": "ping"}))
            await _next_of(ws, "pong")

    run(scenario())


def test_a_private_message_reaches_every_device_of_both_users_once(gateway, token_for):
    alice, bob = token_for("alice"), token_for("bob")

    async def scenario():
        a = ImClient(gateway.url, alice, keep=True)
        b1 = ImClient(gateway.url, bob, device="phone", keep=True)
        b2 = ImClient(gateway.url, bob, device="laptop", keep=True)
        for c in (a, b1, b2):
            await c.start()
        first = await a.send(to="bob", content={"text": "hi"}, client_msg_id="m1")
        again = await a.send(to="bob", content={"text": "hi"}, client_msg_id="m1")
        assert first["seq"] == 1 and again["seq"] == 1 and again["status"] == "duplicate"
        await b1.send(to="alice", content={"text": "hey"})
        for c in (a, b1, b2):
            got = [await c.next_message() for _ in range(2)]
            assert [(m["seq"], m["content"]["text"]) for m in got] == [(1, "hi"), (2, "hey")]
        await asyncio.sleep(0.2)
        assert all(c._inbox.empty() for c in (a, b1, b2))
        for c in (a, b1, b2):
            await c.close()

    run(scenario())


def test_a_reconnecting_client_syncs_what_it_missed_in_order(gateway, token_for, api):
    alice, bob = token_for("alice"), token_for("bob")

    async def scenario():
        b = ImClient(gateway.url, bob, keep=True)
        await b.start()
        await b.close()
        a = ImClient(gateway.url, alice)
        await a.start()
        for i in range(30):
            await a.send(to="bob", content={"text": str(i)})
        await b.start()
        got = [await b.next_message() for _ in range(30)]
        assert [m["seq"] for m in got] == list(range(1, 31))
        # a fresh device with no local state resumes from nothing and gets everything too
        fresh = ImClient(gateway.url, bob, device="tablet")
        await fresh.start()
        assert [(await fresh.next_message())["seq"] for _ in range(30)] == list(range(1, 31))
        for c in (a, b, fresh):
            await c.close()

    run(scenario())


def test_server_side_sends_groups_commands_recall_and_read_receipts_reach_clients(gateway, token_for, api):
    alice, bob = token_for("alice"), token_for("bob")
    group = api.post("/v1/im/groups", {"members": ["alice", "bob"]}, format="json").json()
    events = []

    async def scenario():
        a = ImClient(gateway.url, alice, on_event=events.append)
        b = ImClient(gateway.url, bob)
        await a.start()
        await b.start()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: api.post("/v1/im/messages", {
            "conversation_id": group["id"], "type": "text", "content": {"text": "system says hi"}}, format="json"))
        got = await b.next_message()
        assert got["from"] is None and got["seq"] == 1 and got["conversation_type"] == "group"
        await a.next_message()
        await a.send(to="bob", type="command", content={"op": "typing"})
        cmd = await b.next_message()
        assert cmd["type"] == "command" and cmd["seq"] is None
        assert (await a.next_message())["type"] == "command"  # every member's devices, the sender's too
        sent = await b.send(to="alice", content={"text": "read me"})
        await a.next_message()
        await a.read(sent["conversation_id"], sent["seq"])
        await asyncio.sleep(0.3)
        recall = await b.recall(sent["id"])
        assert recall["result"]["recalled"] is True
        notice = await a.next_message()
        assert notice["type"] == "recall" and notice["content"]["message_id"] == sent["id"]
        with pytest.raises(ImError) as error:
            await a.recall(sent["id"])
        assert error.value.code == "permission_denied"
        await loop.run_in_executor(None, lambda: api.post("/v1/im/broadcasts", {
            "type": "text", "content": {"text": "to everyone"}}, format="json"))
        assert (await a.next_message())["conversation_type"] == "broadcast"
        await a.close()
        await b.close()

    run(scenario())


def test_presence_webhooks_and_dau_on_connect(gateway, token_for, app):
    from billing.models import UsageEvent
    from webhooks.models import Event

    alice = token_for("alice")

    async def scenario():
        c = ImClient(gateway.url, alice)
        await c.start()
        await c.close()
        await asyncio.sleep(0.3)

    run(scenario())
    assert list(Event.objects.filter(type__startswith="im.user").order_by("created_at")
                .values_list("type", flat=True)) == ["im.user.online", "im.user.offline"]
    assert UsageEvent.objects.filter(meter="im_dau", subject="alice").count() == 1


def test_chatroom_members_get_messages_only_while_present_and_joiners_get_the_last_50(gateway, token_for, api):
    alice, bob = token_for("alice"), token_for("bob")
    room = api.post("/v1/im/chatrooms", {"name": "live"}, format="json").json()

    async def scenario():
        a = ImClient(gateway.url, alice)
        await a.start()
        with pytest.raises(ImError) as error:
            await a.send(conversation_id=room["id"], content={"text": "not joined"})
        assert error.value.code == "not_a_member"
        await a.join(room["id"])
        for i in range(55):  # paced under the room's shedding window, which is tested on its own
            await a.send(conversation_id=room["id"], type="custom", content={"i": i})
            await asyncio.sleep(0.012)
        b = ImClient(gateway.url, bob)
        await b.start()
        await b.join(room["id"])
        recent = [await b.next_message() for _ in range(50)]
        assert [m["content"]["i"] for m in recent] == list(range(5, 55))
        await a.send(conversation_id=room["id"], type="custom", content={"i": "live"})
        assert (await b.next_message())["content"]["i"] == "live"
        await b.leave(room["id"])
        await a.send(conversation_id=room["id"], type="custom", content={"i": "gone"})
        await asyncio.sleep(0.3)
        assert b._inbox.empty()
        await a.close()
        await b.close()

    run(scenario())


def test_the_client_stops_on_4001(gateway):
    async def scenario():
        c = ImClient(gateway.url, "imtk_bad")
        await c.start()
        assert isinstance(c.closed, ConnectionRefused) and c.closed.close_code == 4001
        await c.close()

    run(scenario())


def test_a_user_cannot_reach_another_tenants_conversations_over_the_gateway(gateway, token_for, other_api):
    token = token_for("alice")
    other_api.post("/v1/im/users", {"user_id": "alice"}, format="json")
    other_api.post("/v1/im/users", {"user_id": "zed"}, format="json")
    theirs = other_api.post("/v1/im/groups", {"members": ["alice", "zed"]}, format="json").json()
    room = other_api.post("/v1/im/chatrooms", {"name": "theirs"}, format="json").json()

    async def scenario():
        c = ImClient(gateway.url, token)
        await c.start()
        for call in (c.send(conversation_id=theirs["id"], content={"text": "x"}),
                     c.send(to="zed", content={"text": "x"}), c.join(room["id"])):
            with pytest.raises(ImError) as error:
                await call
            assert error.value.code == "not_found"
        await c.close()

    run(scenario())
