import json

import httpx
import pytest

from cpaas.carriers.base import DeliveryReceipt, InboundSms, OutboundSms
from cpaas.carriers.http import HttpConfig, HttpConnector

CONFIG = {"url": "https://upstream.test/sms", "headers": {"Authorization": "Bearer up-key"},
          "body": {"to": "{to}", "from": "{from}", "text": "{body}", "ref": "{message_id}"},
          "id_path": "data.id", "callback_token": "cb-secret"}


def connector_with(monkeypatch, handler, **config):
    monkeypatch.setattr(HttpConnector, "transport", httpx.MockTransport(handler))
    return HttpConnector(name="up", config=HttpConfig.parse({**CONFIG, **config}))


def sms(i=1, to="+12025550123"):
    return OutboundSms(message_id=f"msg_{i}", to=to, sender="Acme", parts=("Hel", "lo"), encoding="GSM-7")


def test_it_posts_the_templated_body_with_the_auth_header(monkeypatch):
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json={"data": {"id": f"up-{json.loads(request.content)['ref']}"}})

    results = connector_with(monkeypatch, handler).submit([sms(1), sms(2)])
    assert [r.carrier_message_id for r in results] == ["up-msg_1", "up-msg_2"]
    assert seen[0].headers["authorization"] == "Bearer up-key"
    assert json.loads(seen[0].content) in ({"to": "+12025550123", "from": "Acme", "text": "Hello", "ref": "msg_1"},
                                           {"to": "+12025550123", "from": "Acme", "text": "Hello", "ref": "msg_2"})


@pytest.mark.parametrize(("answer", "permanent", "submitted"), [
    (httpx.Response(400, json={"error": "bad number"}), True, False),
    (httpx.Response(503), False, False),
    (httpx.Response(200, json={}), False, True),
])
def test_it_classifies_failures(monkeypatch, answer, permanent, submitted):
    (result,) = connector_with(monkeypatch, lambda request: answer).submit([sms()])
    assert not result.accepted
    assert (result.error.permanent, result.error.submitted) == (permanent, submitted)


def test_a_connection_failure_is_transient_and_a_timeout_is_maybe_submitted(monkeypatch):
    def refuse(request):
        raise httpx.ConnectError("refused")

    def slow(request):
        raise httpx.ReadTimeout("slow")

    (refused,) = connector_with(monkeypatch, refuse).submit([sms()])
    assert (refused.error.permanent, refused.error.submitted) == (False, False)
    (timed_out,) = connector_with(monkeypatch, slow).submit([sms()])
    assert timed_out.error.submitted


def test_it_reads_receipts_and_inbound_from_callbacks(monkeypatch):
    connector = connector_with(monkeypatch, lambda r: httpx.Response(200), inbound={"body_path": "text"})
    items = connector.parse_callback([
        {"id": "up-1", "status": "delivered"},
        {"id": "up-2", "status": "failed", "error": "blocked"},
        {"id": "up-3", "status": "accepted"},
        {"id": "mo-1", "from": "+12025550123", "to": "+15005551234", "text": "STOP"},
    ])
    assert items[0] == DeliveryReceipt("up", "up-1", "delivered", "")
    assert items[1] == DeliveryReceipt("up", "up-2", "undelivered", "blocked")
    assert isinstance(items[2], InboundSms) and items[2].body == "STOP"
    assert connector.verify_callback("cb-secret") and not connector.verify_callback("nope")
