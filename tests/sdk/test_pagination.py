import asyncio

import httpx
import pytest

from cpaas_sdk import NotFound


@pytest.fixture
def users(client):
    return [client.im.users.create(user_id=f"u{i:02}").user_id for i in range(25)]


def test_iteration_follows_the_cursor_across_pages(client, users):
    pager = client.im.users.list(limit=10)
    assert [len(page.data) for page in pager.pages()] == [10, 10, 5]
    assert sorted(u.user_id for u in pager) == users  # every item once


def test_follow_yields_only_new_items_oldest_first(client, users):
    newest = client.im.users.list(limit=1).first_page().data[0].id
    follow = client.im.users.list().follow(interval=0.05, since=newest)
    client.im.users.create(user_id="new1")
    client.im.users.create(user_id="new2")
    assert [next(follow).user_id, next(follow).user_id] == ["new1", "new2"]


def test_the_async_client_sends_pages_and_raises_typed_errors(async_client_factory, users):
    async def scenario():
        async with async_client_factory() as client:
            listed = [u.user_id async for u in client.im.users.list(limit=10)]
            number = await client.numbers.create()
            sent = await client.messages.send(from_=number.number, to="+15005550000", body="async")
            fetched = await client.messages.retrieve(sent.id)
            try:
                await client.messages.retrieve("msg_01HZZZZZZZZZZZZZZZZZZZZZZZ")
            except NotFound as exc:
                return listed, fetched, exc
        raise AssertionError("no NotFound")

    listed, fetched, error = asyncio.run(scenario())
    assert sorted(listed) == users
    assert fetched.body == "async"
    assert error.request_id.startswith("req_")


def test_the_request_id_of_an_error_is_the_one_the_server_logged(client, live):
    try:
        client.calls.retrieve("call_nope")
    except NotFound as exc:
        error = exc
    raw = httpx.get(f"{live.url}/v1/calls/call_nope", headers={"Authorization": client._requester.headers[
        "Authorization"]})
    assert raw.headers["request-id"].startswith("req_") and error.request_id.startswith("req_")
