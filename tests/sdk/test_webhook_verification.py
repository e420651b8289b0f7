import base64
import json
import time

import pytest
from standardwebhooks import Webhook

from cpaas_sdk.webhooks import WebhookVerificationError, sign, verify_webhook

SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()
BODY = json.dumps({"id": "evt_1", "type": "message.sent", "created": 1, "data": {}}).encode()


def headers_for(body=BODY, secret=SECRET, msg_id="evt_1", at=None):
    at = int(time.time()) if at is None else at
    return {"webhook-id": msg_id, "webhook-timestamp": str(at), "webhook-signature": sign(secret, msg_id, at, body)}


def test_it_agrees_with_the_standardwebhooks_library():
    headers = Webhook(SECRET).sign("evt_1", __import__("datetime").datetime.now(), BODY.decode())
    ours = headers_for()
    assert verify_webhook(BODY, {**ours, "webhook-signature": headers}, secret=SECRET)["id"] == "evt_1"
    assert Webhook(SECRET).verify(BODY, ours)["id"] == "evt_1"


def test_headers_in_any_case_and_in_wsgi_form_behind_a_proxy():
    h = headers_for()
    meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in h.items()}
    assert verify_webhook(BODY, meta, secret=SECRET)["type"] == "message.sent"
    assert verify_webhook(BODY, {k.title(): v for k, v in h.items()}, secret=SECRET)["id"] == "evt_1"
    assert verify_webhook(BODY, list(h.items()), secret=SECRET)["id"] == "evt_1"


def test_one_of_several_signatures_and_one_of_several_secrets_is_enough():
    old = "whsec_" + base64.b64encode(b"o" * 24).decode()
    h = headers_for()
    h["webhook-signature"] = "v1,AAAA " + h["webhook-signature"]
    assert verify_webhook(BODY, h, secret=[old, SECRET])["id"] == "evt_1"


@pytest.mark.parametrize("tamper", [
    lambda h, b: (h, b + b" "),                                   # body re-encoded by a proxy
    lambda h, b: ({**h, "webhook-id": "evt_2"}, b),               # id swapped
    lambda h, b: ({**h, "webhook-timestamp": str(int(time.time()) - 3600)}, b),  # replayed later
    lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
])
def test_it_refuses_what_was_not_signed_now_by_the_secret(tamper):
    headers, body = tamper(headers_for(), BODY)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, headers, secret=SECRET)
