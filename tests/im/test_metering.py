"""IM usage is recorded with the dimension plans price by (``kind``), and IM messages, priced per
message, are charged before they are accepted (402 when the money is gone)."""

from billing.meters import METERS
from billing.models import UsageEvent
from cpaas.im.outbox import publish_pending
from cpaas.tenants.keys import api_key_create
from tests.conftest import client_for
from tests.support.money import prepaid, price


def test_im_messages_are_metered_by_kind_as_plans_and_docs_say(api, users):
    body = {"from": "alice", "to": "bob", "type": "text", "content": {"text": "hi"}, "client_msg_id": "m1"}
    assert api.post("/v1/im/messages", body, format="json").status_code == 201
    publish_pending()
    event = UsageEvent.objects.get(meter="im_messages")
    assert event.dimensions == {"kind": "private"}
    assert METERS["im_messages"].dimensions == ("kind",)


def test_im_messages_priced_per_message_are_refused_402_when_the_balance_is_gone(app, tenant, money_state):
    price(tenant, [{"meter": "im_messages", "model": "per_unit", "unit_price": "0.01"}])
    prepaid(tenant, "0.02")
    live = client_for(api_key_create(app=app, name="live", mode="live").secret)
    for uid in ("alice", "bob"):
        assert live.post("/v1/im/users", {"user_id": uid}, format="json").status_code == 201
    answers = [live.post("/v1/im/messages", {"from": "alice", "to": "bob", "type": "text", "content": {"text": "hi"},
                                             "client_msg_id": f"m{n}"}, format="json") for n in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 402]
    assert answers[2].json()["error"]["code"] == "insufficient_funds"
