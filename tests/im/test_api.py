import pytest

from billing.models import UsageEvent
from cpaas.im.models import Conversation, Message
from cpaas.im.outbox import publish_pending
from webhooks.models import Event


def post(api, path, data):
    return api.post(path, data, format="json")


def test_it_creates_and_reads_a_user(api, app):
    r = post(api, "/v1/im/users", {"user_id": "alice", "name": "Alice", "avatar_url": "https://x.test/a.png",
                                   "metadata": {"tier": "gold"}})
    assert r.status_code == 201, r.json()
    assert r.json()["user_id"] == "alice"
    got = api.get("/v1/im/users/alice").json()
    assert got["name"] == "Alice" and got["metadata"] == {"tier": "gold"} and got["online"] is False


def test_it_refuses_a_duplicate_user_id(api, users):
    r = post(api, "/v1/im/users", {"user_id": "alice"})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "user_exists" and r.json()["error"]["param"] == "user_id"


@pytest.mark.parametrize(("body", "param", "code"), [
    ({}, "user_id", "invalid_request"),
    ({"user_id": "has space"}, "user_id", "invalid_request"),
    ({"user_id": "x" * 65}, "user_id", "invalid_request"),
    ({"user_id": "a", "avatar_url": "not a url"}, "avatar_url", "invalid_request"),
    ({"user_id": "a", "colour": "red"}, "colour", "invalid_request"),
])
def test_it_rejects_bad_user_input(api, body, param, code):
    r = post(api, "/v1/im/users", body)
    assert r.status_code == 400
    assert (r.json()["error"]["code"], r.json()["error"]["param"]) == (code, param)


def test_it_updates_and_deletes_a_user(api, users):
    r = api.patch("/v1/im/users/alice", {"name": "Al"}, format="json")
    assert r.status_code == 200 and r.json()["name"] == "Al"
    assert api.delete("/v1/im/users/alice").status_code == 200
    assert api.get("/v1/im/users/alice").status_code == 404


def test_it_hides_another_tenants_users_and_conversations(api, other_api, users):
    assert other_api.get("/v1/im/users/alice").status_code == 404
    assert other_api.post("/v1/im/users/alice/tokens", {}, format="json").status_code == 404
    assert other_api.get("/v1/im/users").json()["data"] == []
    group = post(api, "/v1/im/groups", {"name": "g", "members": users}).json()
    assert other_api.get(f"/v1/im/groups/{group['id']}").status_code == 404
    assert other_api.get(f"/v1/im/conversations/{group['id']}/messages").status_code == 404
    r = post(other_api, "/v1/im/messages", {"conversation_id": group["id"], "type": "text", "content": {"text": "x"}})
    assert r.status_code == 404
    # the other tenant may use the same user ids without clashing
    assert post(other_api, "/v1/im/users", {"user_id": "alice"}).status_code == 201


def test_it_issues_a_token_and_lists_its_expiry(api, users):
    r = post(api, "/v1/im/users/alice/tokens", {"ttl_seconds": 3600})
    assert r.status_code == 201
    assert r.json()["token"].startswith("imtk_") and r.json()["expires_at"]
    r = post(api, "/v1/im/users/alice/tokens", {"ttl_seconds": 5})
    assert r.status_code == 400 and r.json()["error"]["param"] == "ttl_seconds"


def test_it_bans_with_a_duration_and_lifts_the_ban(api, users):
    r = post(api, "/v1/im/users/bob/ban", {"duration": 600})
    assert r.status_code == 200 and r.json()["banned_until"]
    r = post(api, "/v1/im/messages", {"from": "bob", "to": "alice", "type": "text", "content": {"text": "hi"}})
    assert r.status_code == 403 and r.json()["error"]["code"] == "user_banned"
    assert api.delete("/v1/im/users/bob/ban").json()["banned_until"] is None
    r = post(api, "/v1/im/users/bob/ban", {"duration": -1})
    assert r.status_code == 400 and r.json()["error"]["param"] == "duration"


def test_a_private_message_gets_seq_one_then_two_and_a_retry_returns_the_original(api, users, app):
    body = {"from": "alice", "to": "bob", "type": "text", "content": {"text": "hi"}, "client_msg_id": "c1"}
    first = post(api, "/v1/im/messages", body)
    assert first.status_code == 201, first.json()
    assert first.json()["seq"] == 1 and first.json()["status"] == "stored"
    again = post(api, "/v1/im/messages", body)
    assert again.status_code == 200
    assert again.json()["seq"] == 1 and again.json()["id"] == first.json()["id"]
    assert again.json()["status"] == "duplicate"
    second = post(api, "/v1/im/messages", {**body, "from": "bob", "to": "alice", "client_msg_id": "c1"})
    assert second.json()["seq"] == 2
    assert second.json()["conversation_id"] == first.json()["conversation_id"]
    assert Message.objects.count() == 2
    assert Event.objects.filter(type="im.message.created").count() == 0  # written by the outbox
    assert publish_pending() == 2 and publish_pending() == 0
    assert Event.objects.filter(type="im.message.created").count() == 2
    assert sum(u.quantity for u in UsageEvent.objects.filter(meter="im_messages")) == 2
    assert Message.objects.filter(published=False).count() == 0


def test_the_outbox_task_run_twice_publishes_once(api, users):
    from cpaas.im.tasks import publish_pending as task

    for i in range(3):
        post(api, "/v1/im/messages", {"from": "alice", "to": "bob", "type": "text", "content": {"text": str(i)}})
    assert task() == 3 and task() == 0
    assert Event.objects.filter(type="im.message.created").count() == 3


def test_sending_records_dau_once_per_user_per_day(api, users, app):
    for i in range(3):
        post(api, "/v1/im/messages", {"from": "alice", "to": "bob", "type": "text", "content": {"text": str(i)}})
    post(api, "/v1/im/messages", {"from": "bob", "to": "alice", "type": "text", "content": {"text": "x"}})
    dau = UsageEvent.objects.filter(app_id=app.pk, meter="im_dau")
    assert sorted(dau.values_list("subject", flat=True)) == ["alice", "bob"]


@pytest.mark.parametrize(("body", "param", "code"), [
    ({"from": "alice", "to": "bob", "type": "text", "content": {"text": "x" * 33_000}}, "content", "message_too_large"),
    ({"from": "alice", "to": "bob", "type": "text", "content": {}}, "content.text", "invalid_request"),
    ({"from": "alice", "to": "bob", "type": "image", "content": {"url": "ftp://x"}}, "content.url", "invalid_request"),
    ({"from": "alice", "to": "bob", "type": "voice", "content": {"url": "https://x.test/a", "duration": -1}},
     "content.duration", "invalid_request"),
    ({"from": "alice", "to": "bob", "type": "sticker", "content": {}}, "type", "invalid_request"),
    ({"from": "alice", "to": "bob", "type": "recall", "content": {}}, "type", "invalid_request"),
    ({"to": "bob", "type": "text", "content": {"text": "x"}}, "from", "invalid_request"),
    ({"from": "alice", "type": "text", "content": {"text": "x"}}, "to", "invalid_request"),
    ({"from": "alice", "to": "nobody", "type": "text", "content": {"text": "x"}}, None, "not_found"),
])
def test_it_rejects_bad_messages(api, users, body, param, code):
    r = post(api, "/v1/im/messages", body)
    assert r.status_code in (400, 404), r.json()
    assert (r.json()["error"]["code"], r.json()["error"]["param"]) == (code, param)


def test_group_lifecycle_members_mute_and_dismiss(api, users):
    r = post(api, "/v1/im/groups", {"name": "team", "owner": "alice", "members": ["bob"]})
    assert r.status_code == 201 and r.json()["member_count"] == 2
    gid = r.json()["id"]
    r = post(api, f"/v1/im/groups/{gid}/members", {"members": ["carol", "bob"]})
    assert r.json()["member_count"] == 3 and r.json()["added"] == 1
    members = api.get(f"/v1/im/groups/{gid}/members").json()["data"]
    assert [m["user_id"] for m in members] == ["alice", "bob", "carol"]
    assert post(api, f"/v1/im/groups/{gid}/members/bob/mute", {"duration": 60}).status_code == 200
    r = post(api, "/v1/im/messages", {"from": "bob", "conversation_id": gid, "type": "text", "content": {"text": "x"}})
    assert r.status_code == 403 and r.json()["error"]["code"] == "member_muted"
    assert api.delete(f"/v1/im/groups/{gid}/members/carol").json()["member_count"] == 2
    r = post(api, "/v1/im/messages", {"from": "carol", "conversation_id": gid, "type": "text",
                                      "content": {"text": "x"}})
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_a_member"
    assert api.delete(f"/v1/im/groups/{gid}").json()["dismissed"] is True
    r = post(api, "/v1/im/messages", {"from": "alice", "conversation_id": gid, "type": "text",
                                      "content": {"text": "x"}})
    assert r.json()["error"]["code"] == "conversation_dismissed"


def test_it_refuses_groups_over_the_member_limit(api, users, monkeypatch):
    from cpaas.im import conf

    monkeypatch.setattr(conf, "MAX_GROUP_MEMBERS", 2)
    r = post(api, "/v1/im/groups", {"members": users})
    assert r.status_code == 409 and r.json()["error"]["code"] == "group_full"
    r = post(api, "/v1/im/groups", {"members": ["alice", "ghost"]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "members"


def test_history_pages_after_and_before_a_seq(api, users):
    gid = post(api, "/v1/im/groups", {"members": users}).json()["id"]
    for i in range(5):
        post(api, "/v1/im/messages", {"from": "alice", "conversation_id": gid, "type": "text",
                                      "content": {"text": str(i)}})
    page = api.get(f"/v1/im/conversations/{gid}/messages?after_seq=1&limit=2").json()
    assert [m["seq"] for m in page["data"]] == [2, 3] and page["has_more"] is True
    page = api.get(f"/v1/im/conversations/{gid}/messages?before_seq=5&limit=2").json()
    assert [m["seq"] for m in page["data"]] == [3, 4] and page["has_more"] is True
    r = api.get(f"/v1/im/conversations/{gid}/messages?after_seq=-3")
    assert r.status_code == 400 and r.json()["error"]["param"] == "after_seq"
    r = api.get(f"/v1/im/conversations/{gid}/messages?after_seq=1&before_seq=3")
    assert r.json()["error"]["param"] == "before_seq"


def test_a_new_member_starts_after_the_messages_sent_before_they_joined(api, users):
    from cpaas.im.models import Member

    gid = post(api, "/v1/im/groups", {"members": ["alice", "bob"]}).json()["id"]
    post(api, "/v1/im/messages", {"from": "alice", "conversation_id": gid, "type": "text", "content": {"text": "x"}})
    post(api, f"/v1/im/groups/{gid}/members", {"members": ["carol"]})
    assert Member.objects.get(conversation_id=gid, user__user_id="carol").joined_seq == 1


def test_recall_stores_a_recall_notice_and_clears_the_content(api, users):
    sent = post(api, "/v1/im/messages", {"from": "alice", "to": "bob", "type": "text",
                                         "content": {"text": "oops"}}).json()
    r = post(api, f"/v1/im/messages/{sent['id']}/recall", {})
    assert r.status_code == 200 and r.json()["recalled"] is True and r.json()["content"] == {}
    history = api.get(f"/v1/im/conversations/{sent['conversation_id']}/messages").json()["data"]
    assert [(m["seq"], m["type"]) for m in history] == [(1, "text"), (2, "recall")]
    assert history[1]["content"] == {"message_id": sent["id"], "seq": 1}
    assert Event.objects.filter(type="im.message.recalled").count() == 1


def test_commands_are_never_stored(api, users):
    r = post(api, "/v1/im/messages", {"from": "alice", "to": "bob", "type": "command", "content": {"op": "typing"}})
    assert r.status_code == 201 and r.json()["status"] == "delivered" and r.json()["seq"] is None
    assert Message.objects.count() == 0


def test_broadcast_goes_into_the_apps_broadcast_conversation(api, users):
    r = post(api, "/v1/im/broadcasts", {"type": "text", "content": {"text": "maintenance at 2am"}})
    assert r.status_code == 201 and r.json()["seq"] == 1 and r.json()["conversation_type"] == "broadcast"
    assert Conversation.objects.filter(kind="broadcast").count() == 1


def test_the_blocklist_rejects_or_masks(api, users, live_api):
    assert live_api.patch("/v1/im/settings", {"blocklist": ["darn"]}, format="json").status_code == 200
    r = post(api, "/v1/im/messages", {"from": "alice", "to": "bob", "type": "text", "content": {"text": "oh DARN"}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "message_blocked"
    live_api.patch("/v1/im/settings", {"blocklist_action": "mask"}, format="json")
    r = post(api, "/v1/im/messages", {"from": "alice", "to": "bob", "type": "text", "content": {"text": "oh DARN"}})
    assert r.json()["content"]["text"] == "oh ****"


def test_chatrooms_shed_low_priority_beyond_the_window_and_count_drops(api, users, monkeypatch, live_api):
    from cpaas.im import state as state_mod

    monkeypatch.setattr(state_mod, "_window", lambda: 42)
    room = post(api, "/v1/im/chatrooms", {"name": "live"}).json()
    live_api.patch("/v1/im/settings", {"low_priority_types": ["text"]}, format="json")
    results = [post(api, "/v1/im/messages", {"from": "alice", "conversation_id": room["id"], "type": "text",
                                             "content": {"text": str(i)}}).json()["status"] for i in range(25)]
    assert results.count("delivered") == 20 and results.count("shed") == 5
    high = [post(api, "/v1/im/messages", {"from": "alice", "conversation_id": room["id"], "type": "custom",
                                          "content": {"i": i}}).json()["status"] for i in range(25)]
    assert high.count("delivered") == 20 and high.count("shed") == 5
    got = api.get(f"/v1/im/chatrooms/{room['id']}").json()
    assert got["dropped"] == {"low": 5, "high": 5}
    assert Message.objects.count() == 0


def test_coalesced_group_sends_take_consecutive_seqs_and_keep_per_item_errors(api, users, app):
    from cpaas.im import services
    from cpaas.im.models import ImUser

    gid = post(api, "/v1/im/groups", {"members": ["alice", "bob"]}).json()["id"]
    conv = Conversation.objects.get(pk=gid)
    alice, bob, carol = (ImUser.objects.get(app=app, user_id=u) for u in ("alice", "bob", "carol"))
    results = services.message_send_many(app=app, conv=conv, items=[
        (alice, "text", {"text": "a"}, "a1"), (carol, "text", {"text": "c"}, "c1"),
        (bob, "text", {"text": "b"}, "b1"), (bob, "text", {}, "b2")])
    assert [r.message["seq"] for r in (results[0], results[2])] == [1, 2]
    assert results[1].code == "not_a_member" and results[3].param == "content.text"
    # a retry inside a batch falls back to one by one and returns the original
    again = services.message_send_many(app=app, conv=conv, items=[
        (alice, "text", {"text": "a"}, "a1"), (bob, "text", {"text": "new"}, "b3")])
    assert (again[0].status, again[0].message["seq"]) == ("duplicate", 1)
    assert (again[1].status, again[1].message["seq"]) == ("stored", 3)
    assert list(Message.objects.filter(conversation=conv).order_by("seq").values_list("seq", flat=True)) == [1, 2, 3]


def test_a_test_key_sets_its_own_hook_but_not_the_policy_live_messages_follow(api, live_api):
    for body in ({"blocklist": ["darn"]}, {"hook_fail_closed": True}, {"whitelisted_senders": ["alice"]}):
        response = api.patch("/v1/im/settings", body, format="json")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "live_key_required"
    assert live_api.get("/v1/im/settings").json()["blocklist"] == []
    assert api.patch("/v1/im/settings", {"hook_url": ""}, format="json").status_code == 200
