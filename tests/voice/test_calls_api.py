"""The Calls API: create, get, list, modify, callback calls; bad input and tenant isolation."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cpaas.voice import states
from cpaas.voice.models import Call, CallLeg
from tests.conftest import client_for

FROM = "+15005559000"  # the sandbox caller-id range every test key owns
TO = "+12025550123"
DOC = "<Response><Say>Hello</Say></Response>"


def create(api, **overrides):
    body = {"to": TO, "from": FROM, "instructions": DOC, **overrides}
    body = {key: value for key, value in body.items() if value is not None}
    return api.post("/v1/calls", body, format="json")


def test_it_accepts_a_call_with_inline_instructions(api, app):
    response = create(api, status_callback="https://example.com/status", timeout=20, record=True)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["id"].startswith("call_")
    assert body["status"] == "queued"
    assert body["to"] == TO and body["from"] == FROM
    assert body["kind"] == "call" and body["livemode"] is False
    assert body["timeout"] == 20 and body["record"] is True
    assert body["status_events"] == ["initiated", "ringing", "answered", "completed"]
    assert [leg["role"] for leg in body["legs"]] == ["a"]
    assert body["legs"][0]["country"] == "US"
    assert Call.objects.get(pk=body["id"]).app_id == app.id


def test_it_accepts_a_call_with_a_url(api):
    response = create(api, instructions=None, url="https://example.com/voice")
    assert response.status_code == 201
    assert response.json()["url"] == "https://example.com/voice"


def test_it_enqueues_the_call_on_the_voice_queue_after_commit(api, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    from cpaas.voice import tasks

    monkeypatch.setattr(tasks.call_dispatch, "apply_async", lambda args, queue: sent.append((args, queue)))
    with django_capture_on_commit_callbacks(execute=True):
        response = create(api)
    assert sent == [((response.json()["id"],), "voice")]


@pytest.mark.parametrize("param, value", [
    ("to", "12025550123"), ("to", "+1202"), ("to", 12025550123), ("to", "+447700900123"),
    ("from", "not a number"),
])
def test_it_refuses_invalid_numbers(api, param, value):
    response = create(api, **{param: value})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_phone_number"
    assert response.json()["error"]["param"] == param


def test_it_refuses_a_caller_id_the_app_does_not_own(api):
    response = create(api, **{"from": "+12025550199"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "caller_id_not_owned"
    assert response.json()["error"]["param"] == "from"


def test_it_refuses_the_sandbox_caller_ids_to_live_keys(db, provisioned):
    from cpaas.voice.numbers import caller_id_owned

    assert caller_id_owned(provisioned.app.id, FROM, is_test=True)
    assert not caller_id_owned(provisioned.app.id, FROM, is_test=False)


def own_number(app, number, capabilities, mode="test"):
    from cpaas.messaging.models import PhoneNumber

    return PhoneNumber.objects.create(tenant_id=app.tenant_id, app=app, number=number, country="US",
                                      mode=mode, capabilities=capabilities)


def test_a_number_of_the_app_with_voice_capability_is_a_valid_caller_id(api, provisioned):
    own_number(provisioned.app, "+12025550142", ["sms", "voice"])
    response = create(api, **{"from": "+12025550142"})
    assert response.status_code == 201, response.json()
    from cpaas.voice.numbers import caller_id_owned

    assert caller_id_owned(provisioned.app.id, "+12025550142", is_test=True)
    assert not caller_id_owned(provisioned.app.id, "+12025550142", is_test=False)  # a test number


def test_a_live_number_is_not_a_caller_id_for_a_test_key(api, provisioned):
    own_number(provisioned.app, "+12025550145", ["sms", "voice"], mode="live")
    assert create(api, **{"from": "+12025550145"}).json()["error"]["code"] == "caller_id_not_owned"


def test_an_sms_only_number_or_another_apps_number_is_not_a_caller_id(api, provisioned, other_provisioned):
    own_number(provisioned.app, "+12025550143", ["sms"])
    own_number(other_provisioned.app, "+12025550144", ["sms", "voice"])
    for number in ("+12025550143", "+12025550144"):
        response = create(api, **{"from": number})
        assert response.json()["error"]["code"] == "caller_id_not_owned"


def test_it_refuses_both_url_and_instructions(api):
    response = create(api, url="https://example.com/voice")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["param"] == "instructions"


def test_it_refuses_neither_url_nor_instructions(api):
    response = create(api, instructions=None)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["param"] == "url"


def test_it_refuses_instructions_that_are_not_xml_with_the_line(api):
    response = create(api, instructions="<Response>\n<Say>Hi</Response>")
    error = response.json()["error"]
    assert response.status_code == 400
    assert error["code"] == "invalid_instructions" and error["param"] == "instructions"
    assert error["line"] == 2 and "mismatched tag" in error["reason"]


def test_it_refuses_instructions_with_an_unknown_verb(api):
    response = create(api, instructions="<Response>\n  <Say>Hi</Say>\n  <Dance/>\n</Response>")
    error = response.json()["error"]
    assert error["code"] == "invalid_instructions"
    assert error["line"] == 3 and error["reason"] == "unknown verb <Dance>"


@pytest.mark.parametrize("param, value, code", [
    ("timeout", 0, "invalid_request"), ("timeout", 601, "invalid_request"),
    ("time_limit", 0, "invalid_request"), ("status_callback", "ftp://x", "invalid_request"),
    ("status_events", ["hung-up"], "invalid_request"), ("record", "maybe", "invalid_request"),
    ("colour", "red", "invalid_request"),
])
def test_it_refuses_bad_options(api, param, value, code):
    response = create(api, **{param: value})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["param"].startswith(param)


def test_it_requires_to_and_from(api):
    response = api.post("/v1/calls", {"from": FROM, "instructions": DOC}, format="json")
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["param"] == "to"


def test_it_gets_a_call(api):
    call_id = create(api).json()["id"]
    response = api.get(f"/v1/calls/{call_id}")
    assert response.status_code == 200
    assert response.json()["id"] == call_id


def test_it_hides_another_tenants_call(api, other_api):
    call_id = create(api).json()["id"]
    assert other_api.get(f"/v1/calls/{call_id}").status_code == 404
    assert other_api.post(f"/v1/calls/{call_id}", {"status": "completed"}, format="json").status_code == 404
    assert other_api.get("/v1/calls").json()["data"] == []


def test_it_lists_calls_newest_first_with_filters_and_cursor(api):
    ids = [create(api).json()["id"] for _ in range(3)]
    Call.objects.filter(pk=ids[0]).update(status=states.COMPLETED)
    page = api.get("/v1/calls?limit=2").json()
    assert [c["id"] for c in page["data"]] == [ids[2], ids[1]] and page["has_more"]
    rest = api.get(f"/v1/calls?limit=2&starting_after={ids[1]}").json()
    assert [c["id"] for c in rest["data"]] == [ids[0]]
    assert [c["id"] for c in api.get("/v1/calls?status=completed").json()["data"]] == [ids[0]]
    assert len(api.get("/v1/calls", {"to": TO, "kind": "call"}).json()["data"]) == 3


def test_it_lists_calls_in_a_fixed_number_of_queries(api):
    for _ in range(5):
        create(api)
    api.get("/v1/calls")  # warm the key cache
    with CaptureQueriesContext(connection) as five:
        api.get("/v1/calls")
    for _ in range(5):
        create(api)
    with CaptureQueriesContext(connection) as ten:
        assert len(api.get("/v1/calls").json()["data"]) == 10
    assert len(ten) == len(five)


@pytest.mark.parametrize("query, param", [("status=done", "status"), ("kind=fax", "kind"), ("limit=0", "limit")])
def test_it_refuses_bad_list_filters(api, query, param):
    response = api.get(f"/v1/calls?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_it_cancels_a_queued_call_on_hangup(api):
    call_id = create(api).json()["id"]
    response = api.post(f"/v1/calls/{call_id}", {"status": "completed"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    assert CallLeg.objects.get(call_id=call_id).status == "canceled"


def test_it_refuses_to_modify_a_completed_call(api):
    call_id = create(api).json()["id"]
    Call.objects.filter(pk=call_id).update(status=states.COMPLETED)
    for body in ({"status": "completed"}, {"instructions": DOC}, {"url": "https://example.com/x"}):
        response = api.post(f"/v1/calls/{call_id}", body, format="json")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "call_not_in_progress"


def test_it_refuses_to_redirect_a_call_not_yet_answered(api):
    call_id = create(api).json()["id"]
    response = api.post(f"/v1/calls/{call_id}", {"url": "https://example.com/x"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "call_not_in_progress"


def test_it_queues_a_redirect_for_a_call_in_progress(api):
    call_id = create(api).json()["id"]
    Call.objects.filter(pk=call_id).update(status=states.IN_PROGRESS)
    response = api.post(f"/v1/calls/{call_id}", {"instructions": "<Response><Hangup/></Response>"}, format="json")
    assert response.status_code == 200
    call = Call.objects.get(pk=call_id)
    assert call.pending_control["action"] == "redirect" and call.control_seq == 1


@pytest.mark.parametrize("body, code, param", [
    ({}, "invalid_request", "status"),
    ({"status": "completed", "url": "https://example.com"}, "invalid_request", "url"),
    ({"status": "ringing"}, "invalid_request", "status"),
    ({"instructions": "<Response><Nope/></Response>"}, "invalid_instructions", "instructions"),
])
def test_it_refuses_bad_modifications(api, body, code, param):
    call_id = create(api).json()["id"]
    Call.objects.filter(pk=call_id).update(status=states.IN_PROGRESS)
    response = api.post(f"/v1/calls/{call_id}", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["param"] == param


# --- callback calls ---------------------------------------------------------------------------

def callback(api, **overrides):
    body = {"party_a": "+12025550101", "party_b": "+12025550102", "caller_id_a": FROM,
            "caller_id_b": "+15005559001", **overrides}
    return api.post("/v1/calls/callback", body, format="json")


def test_it_accepts_a_callback_call_with_two_legs(api):
    response = callback(api, prompt="Connecting you now.", time_limit=600, record=True)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["kind"] == "callback" and body["status"] == "queued"
    assert [(leg["role"], leg["to"], leg["from"]) for leg in body["legs"]] == [
        ("a", "+12025550101", FROM), ("b", "+12025550102", "+15005559001")]
    assert body["prompt"] == "Connecting you now." and body["time_limit"] == 600


def test_it_lets_b_see_a_s_number(api):
    response = callback(api, caller_id_b="+12025550101")
    assert response.status_code == 201
    assert response.json()["legs"][1]["from"] == "+12025550101"


@pytest.mark.parametrize("param", ["party_a", "party_b", "caller_id_a", "caller_id_b"])
def test_it_refuses_invalid_callback_numbers(api, param):
    response = callback(api, **{param: "+1"})
    assert response.json()["error"]["code"] == "invalid_phone_number"
    assert response.json()["error"]["param"] == param


@pytest.mark.parametrize("param", ["caller_id_a", "caller_id_b"])
def test_it_refuses_callback_caller_ids_not_owned(api, param):
    response = callback(api, **{param: "+12025550199"})
    assert response.json()["error"]["code"] == "caller_id_not_owned"
    assert response.json()["error"]["param"] == param


def test_it_refuses_unknown_callback_fields(api):
    response = callback(api, url="https://example.com")
    assert response.json()["error"]["code"] == "invalid_request"


def test_it_hides_another_tenants_callback_call(api, other_api):
    call_id = callback(api).json()["id"]
    assert other_api.get(f"/v1/calls/{call_id}").status_code == 404


def test_it_needs_a_key(anon):
    assert anon.get("/v1/calls").status_code == 401


def test_it_refuses_to_redirect_a_callback_call(api):
    call_id = callback(api).json()["id"]
    Call.objects.filter(pk=call_id).update(status=states.IN_PROGRESS)
    response = api.post(f"/v1/calls/{call_id}", {"url": "https://example.com/x"}, format="json")
    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == ("invalid_request", "url")


def test_a_repeated_idempotency_key_places_the_call_once(api):
    body = {"to": TO, "from": FROM, "instructions": DOC}
    first = api.post("/v1/calls", body, format="json", HTTP_IDEMPOTENCY_KEY="call-once")
    again = api.post("/v1/calls", body, format="json", HTTP_IDEMPOTENCY_KEY="call-once")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert Call.objects.count() == 1


def test_a_live_call_beyond_the_trunks_channels_is_refused_503_trunk_busy(live_secret, provisioned, monkeypatch):
    from cpaas.voice import conf

    monkeypatch.setattr(conf, "VOICE_LIVE_CONNECTOR", "sip")
    monkeypatch.setattr(conf, "VOICE_LIVE_CONNECTOR_CONFIG", {"host": "trunk.example", "channels": 2})
    own_number(provisioned.app, "+12025550146", ["voice"], mode="live")
    live = client_for(live_secret)
    body = {"to": "+12025550123", "from": "+12025550146", "instructions": "<Response><Say>Hi</Say></Response>"}
    assert live.post("/v1/calls", body, format="json").status_code == 201
    callback = {"party_a": "+12025550123", "party_b": "+12025550124", "caller_id_a": "+12025550146",
                "caller_id_b": "+12025550146"}
    refused = live.post("/v1/calls/callback", callback, format="json")  # needs two channels, one is left
    assert (refused.status_code, refused.json()["error"]["code"]) == (503, "trunk_busy")
    assert live.post("/v1/calls", body, format="json").status_code == 201
    busy = live.post("/v1/calls", body, format="json")
    assert (busy.status_code, busy.json()["error"]["code"], busy.json()["error"]["retryable"]) == \
        (503, "trunk_busy", True)
