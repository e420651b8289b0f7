"""The edges of the Twilio-compatible API without a live server: malformed credentials and bodies,
rate limits, read-only keys and Idempotency-Key, all in Twilio's error shape, never a 500."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient
from twilio.base.exceptions import TwilioRestException

from cpaas.core.ratelimit import gate
from cpaas.messaging.models import Message
from cpaas.tenants.keys import api_key_create
from cpaas.twilio.sids import account_sid
from tests.twilio.conftest import sdk_client

pytestmark = pytest.mark.django_db
SEND = {"To": "+15005550000", "From": "Acme", "Body": "hi"}


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def client(username: str, password: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=basic(username, password))
    return api


def post(api: APIClient, url: str, data: dict, **extra):
    """A form post, as Twilio's SDKs send (the test client's default is JSON)."""
    return api.post(url, urlencode(data), content_type="application/x-www-form-urlencoded", **extra)


def messages_url(sid: str) -> str:
    return f"/2010-04-01/Accounts/{sid}/Messages.json"


@pytest.mark.parametrize("header", [
    None, "Bearer sk_test_x", "Basic !!!not-base64", "Basic " + base64.b64encode(b"no-colon").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
])
def test_missing_or_malformed_credentials_are_401_20003_with_a_basic_challenge(app, header):
    api = APIClient()
    if header:
        api.credentials(HTTP_AUTHORIZATION=header)
    response = post(api, messages_url(account_sid(app.id)), SEND)
    assert (response.status_code, response.json()["code"]) == (401, 20003)
    assert response["WWW-Authenticate"] == 'Basic realm="Twilio API"'


def test_repeated_failures_are_throttled_like_bearer_keys(app, settings):
    sid = account_sid(app.id)
    gate().auth_reset("127.0.0.1")
    statuses = {post(client(sid, f"sk_test_wrong{i}"), messages_url(sid), SEND).status_code
                for i in range(settings.AUTH_FAILURES_PER_WINDOW + 1)}
    assert statuses == {401, 429}
    blocked = post(client(sid, "sk_test_wrong"), messages_url(sid), SEND)
    assert (blocked.status_code, blocked.json()["code"]) == (429, 20429) and "Retry-After" in blocked
    gate().auth_reset("127.0.0.1")


def test_a_json_body_is_refused_in_twilio_s_shape(app, secret):
    sid = account_sid(app.id)
    response = client(sid, secret).post(messages_url(sid), SEND, format="json")
    assert (response.status_code, response.json()["code"]) == (415, 20001)


def test_a_read_only_key_may_list_but_not_send(app):
    key = api_key_create(app=app, name="ro", mode="test", access="read")
    api = client(account_sid(app.id), key.secret)
    assert api.get(messages_url(account_sid(app.id))).status_code == 200
    response = post(api, messages_url(account_sid(app.id)), SEND)
    assert (response.status_code, response.json()["code"]) == (403, 20003)


def test_a_key_over_its_rate_limit_gets_20429_and_retry_after(app):
    key = api_key_create(app=app, name="slow", mode="test", rate_limit=1)
    api = client(account_sid(app.id), key.secret)
    codes = [api.get(messages_url(account_sid(app.id))) for _ in range(5)]
    limited = [r for r in codes if r.status_code == 429]
    assert limited and limited[0].json()["code"] == 20429 and "Retry-After" in limited[0]


def test_an_idempotency_key_makes_a_retried_send_one_message(app, secret):
    sid = account_sid(app.id)
    api = client(sid, secret)
    first = post(api, messages_url(sid), SEND, HTTP_IDEMPOTENCY_KEY="order-1")
    again = post(api, messages_url(sid), SEND, HTTP_IDEMPOTENCY_KEY="order-1")
    other = post(api, messages_url(sid), {**SEND, "Body": "changed"}, HTTP_IDEMPOTENCY_KEY="order-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json()["sid"] == first.json()["sid"]
    assert (other.status_code, other.json()["code"]) == (422, 20001)
    assert Message.objects.count() == 1


def test_bad_paging_and_filters_are_20001_not_500(app, secret):
    sid = account_sid(app.id)
    api = client(sid, secret)
    for query in ("PageSize=0", "PageSize=abc", "PageToken=PAnope", "DateSent=yesterday", "Page=-1"):
        response = api.get(f"{messages_url(sid)}?{query}")
        assert (response.status_code, response.json()["code"]) == (400, 20001), query


@pytest.mark.parametrize("query", [
    "DateSent%3E=2026-02-30T00:00:00Z",  # parse_datetime raises on an impossible day
    "DateSent=2026-02-30T00:00:00Z",
    "DateSent=9999-12-31",  # the next day overflows
    "DateSent%3C=9999-12-31",
    "DateSent=9999-12-31T23:00:00-05:00",  # in UTC, past the calendar's end
])
def test_impossible_or_overflowing_dates_are_20001_naming_the_param(app, secret, query):
    sid = account_sid(app.id)
    response = client(sid, secret).get(f"{messages_url(sid)}?{query}")
    body = response.json()
    assert (response.status_code, body["code"]) == (400, 20001), body
    assert body["details"]["param"].startswith("DateSent")


def test_impossible_call_start_times_are_20001(app, secret):
    sid = account_sid(app.id)
    response = client(sid, secret).get(f"/2010-04-01/Accounts/{sid}/Calls.json?StartTime%3C=9999-12-31")
    assert (response.status_code, response.json()["code"]) == (400, 20001)


def test_unknown_methods_and_paths_answer_in_twilio_s_shape(app, secret):
    sid = account_sid(app.id)
    api = client(sid, secret)
    assert api.put(messages_url(sid), urlencode(SEND), content_type="application/x-www-form-urlencoded"
                   ).json()["code"] == 20004
    assert api.get(f"/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json").json()["code"] == 20404
    assert api.get(f"/2010-04-01/Accounts/{sid}/Calls/CAnope.json").json()["code"] == 20404


@pytest.mark.parametrize(("data", "code"), [
    ({"From": "+15005559000", "Twiml": "<Response/>"}, 21211),
    ({"To": "+12025550123", "Twiml": "<Response/>"}, 21212),
    ({"To": "+12025550123", "From": "+15005559000", "Twiml": "<Response/>", "Timeout": "abc"}, 20001),
    ({"To": "+12025550123", "From": "+15005559000", "Twiml": "<Response/>", "Record": "maybe"}, 20001),
    ({"To": "+12025550123", "From": "+15005559000", "Url": "ftp://tenant.example/x"}, 21205),
    ({"To": "+12025550123", "From": "+15005559000", "Url": "https://a", "Twiml": "<Response/>"}, 20001),
    ({"To": "+12025550123", "From": "+15005559000", "Twiml": "<Response>" + "<Pause/>" * 20000 + "</Response>"},
     12100),
    ({"To": "+12025550123", "From": "+15005559000", "Twiml": "<Response/>", "StatusCallback": "not a url"}, 21609),
])
def test_bad_call_input_is_a_twilio_error_never_a_500(app, secret, data, code):
    sid = account_sid(app.id)
    response = post(client(sid, secret), f"/2010-04-01/Accounts/{sid}/Calls.json", data)
    assert response.status_code in (400, 404), response.json()
    assert response.json()["code"] == code, response.json()


def test_a_message_update_other_than_cancel_is_20001(app, secret):
    sid = account_sid(app.id)
    api = client(sid, secret)
    message_sid = post(api, messages_url(sid), SEND).json()["sid"]
    url = f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json"
    for data in ({"Status": "sent"}, {"Body": ""}, {}):
        response = post(api, url, data)
        assert (response.status_code, response.json()["code"]) == (400, 20001), data


def test_the_sdk_fetches_the_account_as_the_key_s_own_app(live_server, app, secret):
    client = sdk_client(live_server.url, account_sid(app.id), secret)
    account = client.api.v2010.accounts(account_sid(app.id)).fetch()
    assert (account.sid, account.friendly_name, account.status, account.type) == (
        account_sid(app.id), app.name, "active", "Trial")
    assert account.subresource_uris["messages"].endswith(f"/Accounts/{account_sid(app.id)}/Messages.json")


def test_another_app_s_account_is_401_20003(live_server, app, secret, other_provisioned):
    client = sdk_client(live_server.url, account_sid(app.id), secret)
    with pytest.raises(TwilioRestException) as caught:
        client.api.v2010.accounts(account_sid(other_provisioned.app.id)).fetch()
    assert (caught.value.status, caught.value.code) == (401, 20003)
