"""The IM pre-send hook leaves through the egress: its answer becomes the stored message, so a
hook URL must never reach an internal address (a reflected SSRF). The SSRF corpus, loopback only."""

from __future__ import annotations

import json
import logging
import threading

import pytest

from cpaas.core.egress import conf as egress_conf
from cpaas.im.models import ImSettings, Message
from cpaas.im.moderation import forget_settings
from tests.support.ssrf import REFUSED_URLS, answer_names, is_refusal, loopback_urls

SEND = {"from": "alice", "to": "bob", "type": "text", "content": {"text": "hello"}}


def post(api, path, data):
    return api.post(path, data, format="json")


def answer(receiver, path: str, body) -> None:
    receiver.bodies[path] = json.dumps(body).encode() if not isinstance(body, bytes) else body


def test_the_hook_rewrites_blocks_and_fails_open_or_closed(api, users, receiver, allow_loopback, live_api):
    api.patch("/v1/im/settings", {"hook_url": f"{receiver.base}/im"}, format="json")
    answer(receiver, "/im", {"action": "rewrite", "content": {"text": "HELLO"}})
    assert post(api, "/v1/im/messages", SEND).json()["content"] == {"text": "HELLO"}
    headers, body = receiver.posted("/im")[0]
    assert json.loads(body)["content"] == {"text": "hello"} and headers["content-type"] == "application/json"
    answer(receiver, "/im", {"action": "block", "reason": "spam"})
    assert post(api, "/v1/im/messages", SEND).json()["error"]["code"] == "message_blocked"
    receiver.answer("/im", 500)
    assert post(api, "/v1/im/messages", SEND).status_code == 201  # fail-open
    live_api.patch("/v1/im/settings", {"hook_fail_closed": True}, format="json")
    assert post(api, "/v1/im/messages", SEND).json()["error"]["code"] == "message_blocked"


def test_a_redirect_from_the_hook_is_not_followed(api, users, receiver, allow_loopback):
    api.patch("/v1/im/settings", {"hook_url": f"{receiver.base}/im"}, format="json")
    receiver.answer("/im", 302, location=f"{receiver.base}/inside")
    answer(receiver, "/inside", {"action": "rewrite", "content": {"text": "from inside"}})
    assert post(api, "/v1/im/messages", SEND).json()["content"] == {"text": "hello"}
    assert [path for path, _, _ in receiver.received] == ["/im"]


def test_an_oversized_or_slow_hook_answer_is_a_failed_call(api, live_api, users, receiver, allow_loopback,
                                                            monkeypatch):
    from cpaas.im import conf

    live_api.patch("/v1/im/settings", {"hook_fail_closed": True}, format="json")
    api.patch("/v1/im/settings", {"hook_url": f"{receiver.base}/im"}, format="json")
    answer(receiver, "/im", b'{"action":"rewrite","content":{"text":"' + b"x" * 100_000 + b'"}}')
    assert post(api, "/v1/im/messages", SEND).json()["error"]["code"] == "message_blocked"
    monkeypatch.setattr(conf, "HOOK_TIMEOUT_SECONDS", 0.3)
    receiver.hang = threading.Event()
    receiver.received.clear()
    assert post(api, "/v1/im/messages", SEND).json()["error"]["code"] == "message_blocked"


@pytest.mark.parametrize("bad", REFUSED_URLS)
def test_the_hook_url_setting_refuses_the_corpus(api, no_allow_list, resolver, bad):
    answer_names(resolver)
    response = api.patch("/v1/im/settings", {"hook_url": bad}, format="json")
    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == ("url_not_allowed", "hook_url")
    assert not ImSettings.objects.exclude(hook_url="").exists()
    assert not ImSettings.objects.exclude(test_hook_url="").exists()


def test_the_hook_never_reaches_a_loopback_spelling_nor_stores_its_answer(
        api, app, users, receiver, resolver, monkeypatch, caplog):
    # Saved while the operator allowed loopback, called after it stopped: every spelling is
    # refused at connect, the receiver hears nothing, and its "rewrite" never becomes a message.
    answer_names(resolver)
    answer(receiver, "/im", {"action": "rewrite", "content": {"text": "secret from inside"}})
    port = int(receiver.base.rsplit(":", 1)[1])
    for url in loopback_urls(port, "/im"):
        monkeypatch.setattr(egress_conf, "ALLOWED_CIDRS", ["127.0.0.0/8", "::1/128", "0.0.0.0/32"])
        assert api.patch("/v1/im/settings", {"hook_url": url}, format="json").status_code == 200, url
        monkeypatch.setattr(egress_conf, "ALLOWED_CIDRS", [])
        forget_settings(app.id)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="cpaas.im.moderation"):
            assert post(api, "/v1/im/messages", SEND).json()["content"] == {"text": "hello"}, url
        assert any(is_refusal(record.getMessage()) for record in caplog.records), url
    assert receiver.received == []
    assert not Message.objects.filter(content__text="secret from inside").exists()


def test_a_test_key_never_sets_the_hook_that_receives_live_messages(
        api, live_api, users, receiver, allow_loopback):
    # The hook reads every message and may rewrite it: a test key's hook hears test messages only.
    assert api.patch("/v1/im/settings", {"hook_url": f"{receiver.base}/test"}, format="json").status_code == 200
    answer(receiver, "/test", {"action": "rewrite", "content": {"text": "rewritten by a test key"}})
    assert live_api.get("/v1/im/settings").json()["hook_url"] == ""
    for user_id in ("alice", "bob"):
        assert post(live_api, "/v1/im/users", {"user_id": f"live-{user_id}"}).status_code == 201
    live = {**SEND, "from": "live-alice", "to": "live-bob", "content": {"text": "live secret"}}
    assert post(live_api, "/v1/im/messages", live).json()["content"] == {"text": "live secret"}
    assert receiver.received == []
    assert post(api, "/v1/im/messages", SEND).json()["content"] == {"text": "rewritten by a test key"}

    assert live_api.patch("/v1/im/settings", {"hook_url": f"{receiver.base}/live"}, format="json").status_code == 200
    assert api.get("/v1/im/settings").json()["hook_url"] == f"{receiver.base}/test"
    assert post(live_api, "/v1/im/messages", live).status_code == 201
    assert [path for path, _, _ in receiver.received] == ["/test", "/live"]
