"""Messages through the official ``twilio`` SDK against a live server: send, fetch, list with
paging and filters, cancel, delete; Twilio's error codes; another tenant's SIDs are 20404."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime

import pytest
from twilio.base.exceptions import TwilioRestException

from cpaas.messaging.models import Message, OptOut
from cpaas.tenants.keys import api_key_create
from cpaas.twilio.sids import account_sid, object_id
from cpaas.twilio.sids import sid as sid_of
from tests.twilio.conftest import sdk_client

pytestmark = pytest.mark.django_db(transaction=True)
TO = "+15005550000"


def error_of(call) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as caught:
        call()
    return caught.value


def test_a_message_sent_with_the_sdk_is_ours_in_twilio_s_shape(twilio, sid, app):
    sent = twilio.messages.create(to=TO, from_="Acme", body="Hello from the SDK")
    stored = Message.objects.get(pk=object_id(sent.sid, "SM"))
    assert sent.sid.startswith("SM") and len(sent.sid) == 34
    assert (stored.app_id, stored.body, stored.mode, stored.dialect) == (app.id, "Hello from the SDK", "test", "twilio")
    assert (sent.account_sid, sent.to, sent.from_, sent.status, sent.direction) == (sid, TO, "Acme", "queued",
                                                                                   "outbound-api")
    assert (sent.num_segments, sent.num_media, sent.api_version) == ("1", "0", "2010-04-01")
    assert sent.date_created == stored.created_at.replace(microsecond=0)
    assert sent.uri == f"/2010-04-01/Accounts/{sid}/Messages/{sent.sid}.json"
    assert sent.error_code is None and sent.date_sent is None

    fetched = twilio.messages(sent.sid).fetch()
    assert (fetched.sid, fetched.body, fetched.status) == (sent.sid, "Hello from the SDK", "queued")


def test_the_raw_answer_writes_dates_in_rfc_2822(live_server, sid, secret):
    client = sdk_client(live_server.url, sid, secret)
    response = client.request("POST", f"{live_server.url}/2010-04-01/Accounts/{sid}/Messages.json",
                              data={"To": TO, "From": "Acme", "Body": "x"}, auth=(sid, secret))
    body = json.loads(response.text)
    assert response.status_code == 201
    assert body["date_created"].endswith("+0000") and parsedate_to_datetime(body["date_created"])
    assert body["subresource_uris"]["media"].endswith(f"/Messages/{body['sid']}/Media.json")


def test_a_list_pages_newest_first_with_twilio_s_paging_fields(twilio):
    sids = [twilio.messages.create(to=TO, from_="Acme", body=f"n{i}").sid for i in range(5)]
    listed = twilio.messages.list(page_size=2)
    assert [m.sid for m in listed] == sids[::-1]
    assert [m.sid for m in twilio.messages.list(limit=3, page_size=2)] == sids[::-1][:3]

    first = twilio.messages.page(page_size=2)
    assert [m.sid for m in first] == sids[4:2:-1] and first.previous_page_url is None
    second = first.next_page()
    assert [m.sid for m in second] == sids[2:0:-1]
    back = second.previous_page()
    assert [m.sid for m in back] == sids[4:2:-1]
    third = second.next_page()
    assert [m.sid for m in third] == sids[:1] and third.next_page_url is None


def test_the_page_answer_carries_every_paging_field(live_server, twilio, sid, secret):
    for i in range(3):
        twilio.messages.create(to=TO, from_="Acme", body=f"n{i}")
    response = twilio.request("GET", f"{live_server.url}/2010-04-01/Accounts/{sid}/Messages.json",
                              params={"PageSize": 2, "To": TO}, auth=(sid, secret))
    page = json.loads(response.text)
    assert set(page) == {"messages", "page", "page_size", "start", "end", "uri", "first_page_uri",
                         "next_page_uri", "previous_page_uri"}
    assert (page["page"], page["page_size"], page["start"], page["end"]) == (0, 2, 0, 1)
    assert page["first_page_uri"] == f"/2010-04-01/Accounts/{sid}/Messages.json?To=%2B15005550000&PageSize=2&Page=0"
    assert "Page=1&PageToken=PASM" in page["next_page_uri"] and page["previous_page_uri"] is None


def test_lists_filter_by_to_from_and_date_sent(twilio):
    a = twilio.messages.create(to=TO, from_="Acme", body="a").sid
    twilio.messages.create(to="+15005550003", from_="Other", body="b")
    assert [m.sid for m in twilio.messages.list(to=TO)] == [a]
    assert [m.sid for m in twilio.messages.list(from_="Acme")] == [a]
    Message.objects.filter(pk=object_id(a, "SM")).update(sent_at="2026-12-01T10:00:00Z")
    assert [m.sid for m in twilio.messages.list(date_sent=datetime(2026, 12, 1, tzinfo=UTC))] == [a]
    assert [m.sid for m in twilio.messages.list(date_sent_before=date(2026, 11, 30))] == []
    assert [m.sid for m in twilio.messages.list(date_sent_after=date(2026, 12, 1))] == [a]


def test_update_to_canceled_cancels_a_queued_message_and_a_sent_one_is_30409(twilio):
    queued = twilio.messages.create(to=TO, from_="Acme", body="x")
    assert twilio.messages(queued.sid).update(status="canceled").status == "canceled"
    error = error_of(lambda: twilio.messages(queued.sid).update(status="canceled"))
    assert (error.status, error.code) == (409, 30409)
    assert error.uri.endswith(f"/Messages/{queued.sid}.json")


def test_delete_removes_a_finished_message_and_refuses_one_on_its_way(twilio):
    message = twilio.messages.create(to=TO, from_="Acme", body="x")
    error = error_of(lambda: twilio.messages(message.sid).delete())
    assert (error.status, error.code) == (409, 20009)
    twilio.messages(message.sid).update(status="canceled")
    assert twilio.messages(message.sid).delete() is True
    assert error_of(lambda: twilio.messages(message.sid).fetch()).code == 20404


@pytest.mark.parametrize(("fields", "status", "code"), [
    ({"to": "+1234", "from_": "Acme", "body": "x"}, 400, 21211),
    ({"to": "not a number", "from_": "Acme", "body": "x"}, 400, 21211),
    ({"to": TO, "from_": "+12025550123", "body": "x"}, 400, 21606),
    ({"to": TO, "from_": "+1202", "body": "x"}, 400, 21212),
    ({"to": TO, "from_": "Acme"}, 400, 21602),
    ({"to": TO, "from_": "Acme", "body": "   "}, 400, 21602),
    ({"to": TO, "from_": "Acme", "body": "x" * 2000}, 400, 21617),
    ({"to": TO, "body": "x"}, 400, 21603),
    ({"to": TO, "from_": "Acme", "body": "x", "media_url": ["https://example.com/a.png"]}, 400, 20001),
    ({"to": TO, "from_": "Acme", "body": "x", "status_callback": "http://10.0.0.1/cb"}, 400, 21609),
    ({"to": TO, "messaging_service_sid": "MGnope", "body": "x"}, 404, 20404),
])
def test_bad_sends_get_twilio_s_code_and_a_link_to_it(twilio, fields, status, code):
    error = error_of(lambda: twilio.messages.create(**fields))
    assert (error.status, error.code) == (status, code), error.msg
    assert error.msg and error.details["request_id"].startswith("req_")
    assert Message.objects.count() == 0


def test_the_error_body_is_twilio_s_shape(live_server, sid, secret, twilio):
    response = twilio.request("POST", f"{live_server.url}/2010-04-01/Accounts/{sid}/Messages.json",
                              data={"To": "+1234", "From": "Acme", "Body": "x"}, auth=(sid, secret))
    body = json.loads(response.text)
    assert (response.status_code, body["code"], body["status"]) == (400, 21211, 400)
    assert body["more_info"] == "https://www.twilio.com/docs/errors/21211"
    assert body["details"]["cpaas_code"] == "invalid_phone_number" and body["details"]["param"] == "To"


def test_a_recipient_who_replied_stop_is_21610(twilio, app):
    OptOut.objects.create(app=app, number=TO)
    assert error_of(lambda: twilio.messages.create(to=TO, from_="Acme", body="x")).code == 21610


def test_a_sender_pool_is_a_messaging_service(twilio, api):
    number = api.post("/v1/numbers", {}, format="json").json()["number"]
    pool = api.post("/v1/sender_pools", {"name": "p", "numbers": [number]}, format="json").json()
    sent = twilio.messages.create(to=TO, messaging_service_sid=sid_of(pool["id"]), body="pooled")
    assert (sent.from_, sent.messaging_service_sid) == (number, sid_of(pool["id"]))


# --- authentication and isolation ---------------------------------------------------------------

def test_a_wrong_key_a_foreign_account_sid_or_a_mismatched_path_is_20003(live_server, sid, secret, other_provisioned):
    other_sid = account_sid(other_provisioned.app.id)
    cases = [
        sdk_client(live_server.url, sid, "sk_test_wrong"),
        sdk_client(live_server.url, other_sid, secret),  # our key, another tenant's SID
        sdk_client(live_server.url, sid, other_provisioned.test_key.secret),  # their key, our SID
    ]
    for client in cases:
        error = error_of(lambda client=client: client.messages.create(to=TO, from_="Acme", body="x"))
        assert (error.status, error.code) == (401, 20003)
    assert Message.objects.count() == 0
    assert Message.objects.count() == 0
    # Our own credentials, another account's URL.
    mine = sdk_client(live_server.url, sid, secret)
    error = error_of(lambda: mine.api.v2010.accounts(other_sid).messages.create(to=TO, from_="Acme", body="x"))
    assert (error.status, error.code) == (401, 20003)


def test_another_tenant_s_or_the_live_mode_s_message_is_20404(live_server, twilio, other_provisioned, live_secret,
                                                              sid):
    theirs = sdk_client(live_server.url, account_sid(other_provisioned.app.id), other_provisioned.test_key.secret)
    message = theirs.messages.create(to=TO, from_="Acme", body="private")
    for action in (lambda: twilio.messages(message.sid).fetch(),
                   lambda: twilio.messages(message.sid).update(status="canceled"),
                   lambda: twilio.messages(message.sid).delete()):
        error = error_of(action)
        assert (error.status, error.code) == (404, 20404)
    assert twilio.messages.list() == []
    assert Message.objects.get(pk=object_id(message.sid, "SM")).status == "queued"
    live = sdk_client(live_server.url, sid, live_secret)
    test_sid = twilio.messages.create(to=TO, from_="Acme", body="t").sid
    assert error_of(lambda: live.messages(test_sid).fetch()).code == 20404


def test_a_key_without_the_sms_product_is_refused(live_server, sid, app):
    key = api_key_create(app=app, name="voice only", mode="test", products=["voice"])
    client = sdk_client(live_server.url, sid, key.secret)
    error = error_of(lambda: client.messages.create(to=TO, from_="Acme", body="x"))
    assert (error.status, error.code) == (403, 20003)


def test_unknown_resources_are_20404_and_me_shows_the_account_sid(live_server, twilio, api, sid):
    assert api.get("/v1/me").json()["account_sid"] == sid
    error = error_of(lambda: twilio.messages("SMnot-a-sid").fetch())
    assert (error.status, error.code) == (404, 20404)
    response = twilio.request("GET", f"{live_server.url}/2010-04-01/Accounts/{sid}/Queues.json", auth=(sid, "x"))
    assert response.status_code == 401 and json.loads(response.text)["code"] == 20003
