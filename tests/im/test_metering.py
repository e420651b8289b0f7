"""IM usage is recorded with the dimension plans price by: ``kind`` (the conversation type)."""

from billing.meters import METERS
from billing.models import UsageEvent
from cpaas.im.outbox import publish_pending


def test_im_messages_are_metered_by_kind_as_plans_and_docs_say(api, users):
    body = {"from": "alice", "to": "bob", "type": "text", "content": {"text": "hi"}, "client_msg_id": "m1"}
    assert api.post("/v1/im/messages", body, format="json").status_code == 201
    publish_pending()
    event = UsageEvent.objects.get(meter="im_messages")
    assert event.dimensions == {"kind": "private"}
    assert METERS["im_messages"].dimensions == ("kind",)
