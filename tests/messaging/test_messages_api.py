from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from cpaas.messaging.models import Connector, Message, OptOut, Route
from cpaas.tenants.keys import api_key_create
from tests.conftest import client_for
from tests.messaging.conftest import send

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("send_path")]


def test_it_accepts_a_message_and_answers_with_its_segments(api):
    response = send(api, body="Hello there", reference="order-17")
    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("msg_")
    assert body["status"] == "queued"
    assert (body["segments"], body["encoding"]) == (1, "GSM-7")
    assert body["reference"] == "order-17"
    assert body["country"] == "US"
    assert "queued" in body["timestamps"]
    assert response["Location"] == f"/v1/messages/{body['id']}"
    assert Message.objects.get(pk=body["id"]).status == "queued"


def test_it_accepts_a_national_number_with_a_country_hint(api):
    response = send(api, to="(202) 555-0123", country="US")
    assert response.status_code == 201
    assert response.json()["to"] == "+12025550123"


@pytest.mark.parametrize(("fields", "code", "param"), [
    ({"to": "12"}, "invalid_phone_number", "to"),
    ({"to": "+1 555"}, "invalid_phone_number", "to"),
    ({"from": "+4420"}, "invalid_phone_number", "from"),
    ({"from": "this-is-way-too-long"}, "invalid_phone_number", "from"),
    ({"from": "+12025550123"}, "sender_not_owned", "from"),
    ({"body": ""}, "body_required", "body"),
    ({"body": "   "}, "body_required", "body"),
    ({"body": None}, "body_required", "body"),
    ({"body": "a" * 1531}, "body_too_long", "body"),
    ({"body": "я" * 671}, "body_too_long", "body"),
    ({"send_at": "2020-01-01T00:00:00Z"}, "invalid_send_at", "send_at"),
    ({"send_at": "tomorrow"}, "invalid_send_at", "send_at"),
    ({"surprise": 1}, "invalid_request", "surprise"),
    ({"validity_period": 5}, "invalid_request", "validity_period"),
    ({"status_callback": "ftp://x"}, "invalid_request", "status_callback"),
])
def test_it_refuses_bad_input_and_stores_nothing(api, fields, code, param):
    response = send(api, **fields)
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert Message.objects.count() == 0


def test_ten_segments_pass_and_eleven_do_not(api):
    assert send(api, body="a" * 1530).json()["segments"] == 10
    assert send(api, body="a" * 1531).json()["error"]["code"] == "body_too_long"


def test_send_at_must_be_within_the_window(api):
    now = timezone.now()
    assert send(api, send_at=(now + timedelta(minutes=10)).isoformat()).status_code == 400
    assert send(api, send_at=(now + timedelta(days=8)).isoformat()).status_code == 400
    response = send(api, send_at=(now + timedelta(hours=1)).isoformat())
    assert response.status_code == 201
    assert response.json()["status"] == "scheduled"


def test_it_refuses_an_opted_out_recipient(api, app):
    OptOut.objects.create(app=app, number="+15005550000")
    response = send(api)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "recipient_opted_out"
    assert response.json()["error"]["param"] == "to"
    assert Message.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_send_on_a_connection_the_server_ended_is_still_accepted(api):
    """A send's only query is its INSERT: the connection's health check must still replace a dead
    connection first (cpaas.core.db.pg_cursor)."""
    from tests.core.test_db import _backend_pid, _terminate

    assert send(api).status_code == 201  # key, settings and numbers now cached: one query per send
    _terminate(_backend_pid())
    connection.health_check_done = False  # what request_started does (the test client skips it)
    response = send(api, to="+15005550001")
    assert response.status_code == 201, response.json()
    assert Message.objects.filter(to="+15005550001").exists()


def test_an_opt_out_belongs_to_one_app(api, other_provisioned):
    OptOut.objects.create(app=other_provisioned.app, number="+15005550000")
    assert send(api).status_code == 201


def test_live_keys_send_nowhere_until_countries_are_allowed(app, api, live_api):
    Route.objects.create(prefix="+1", connector=Connector.objects.create(id="carrier", kind="sandbox"))
    live = client_for(api_key_create(app=app, name="live", mode="live").secret)
    response = send(live)
    assert response.status_code == 403
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == ("geo_not_permitted", "to")
    assert live_api.post("/v1/sms/settings", {"allowed_countries": ["us"]}, format="json").status_code == 200
    assert send(live).status_code == 201
    assert send(live, to="+8613800138000").json()["error"]["code"] == "geo_not_permitted"
    assert Message.objects.count() == 1


def test_it_sends_from_a_number_the_app_owns(api, number):
    response = send(api, **{"from": number})
    assert response.status_code == 201
    assert response.json()["from"] == number


def test_it_does_not_send_from_another_apps_number(api, other_api):
    theirs = other_api.post("/v1/numbers", {}, format="json").json()["number"]
    response = send(api, **{"from": theirs})
    assert response.json()["error"]["code"] == "sender_not_owned"


def test_a_sender_pool_keeps_the_same_number_per_recipient(api):
    numbers = [api.post("/v1/numbers", {}, format="json").json()["number"] for _ in range(3)]
    pool = api.post("/v1/sender_pools", {"name": "main", "numbers": numbers}, format="json").json()
    first = {to: send(api, **{"from": None, "sender_pool": pool["id"], "to": to}).json()["from"]
             for to in ("+15005550000", "+12025550123", "+14155550100")}
    again = {to: send(api, **{"from": None, "sender_pool": pool["id"], "to": to}).json()["from"]
             for to in first}
    assert first == again
    assert set(first.values()) <= set(numbers)


def test_smart_encoding_keeps_a_message_in_gsm7(api):
    response = send(api, body="Don\u2019t \u201cpanic\u201d", smart_encoding=True)
    assert response.json()["encoding"] == "GSM-7"
    assert response.json()["body"] == "Don't \"panic\""


def test_it_estimates_without_sending(api):
    response = api.post("/v1/messages/estimate", {"body": "Caf\u00e9 \u2014 ok " * 20}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["encoding"] == "UCS-2"
    assert body["ucs2_characters"] == ["\u2014"]
    assert body["segments"] == 3
    assert Message.objects.count() == 0


def test_the_estimate_needs_a_body(api):
    response = api.post("/v1/messages/estimate", {}, format="json")
    assert response.json()["error"]["code"] == "body_required"


def test_it_gets_a_message(api):
    created = send(api).json()
    response = api.get(f"/v1/messages/{created['id']}")
    assert response.status_code == 200
    assert response.json()["id"] == created["id"]


def test_another_tenants_message_is_not_found(api, other_api):
    created = send(api).json()
    assert other_api.get(f"/v1/messages/{created['id']}").status_code == 404
    assert other_api.post(f"/v1/messages/{created['id']}/cancel").status_code == 404
    assert other_api.get("/v1/messages").json()["data"] == []


def test_it_lists_messages_with_filters(api):
    a = send(api, to="+15005550000").json()
    b = send(api, to="+12025550123").json()
    listed = api.get("/v1/messages").json()
    assert [m["id"] for m in listed["data"]] == [b["id"], a["id"]]
    assert [m["id"] for m in api.get("/v1/messages", {"to": "+12025550123"}).json()["data"]] == [b["id"]]
    assert api.get("/v1/messages", {"status": "sent"}).json()["data"] == []
    assert len(api.get("/v1/messages", {"from": "Acme", "status": "queued"}).json()["data"]) == 2
    future = (timezone.now() + timedelta(minutes=1)).isoformat()
    assert api.get("/v1/messages", {"created_after": future}).json()["data"] == []
    assert len(api.get("/v1/messages", {"created_before": future}).json()["data"]) == 2
    page = api.get("/v1/messages", {"limit": 1}).json()
    assert page["has_more"] is True
    after = api.get("/v1/messages", {"limit": 1, "starting_after": page["data"][0]["id"]}).json()
    assert after["data"][0]["id"] == a["id"]


def test_list_filters_refuse_nonsense(api):
    assert api.get("/v1/messages", {"status": "lost"}).json()["error"]["param"] == "status"
    assert api.get("/v1/messages", {"to": "x"}).json()["error"]["code"] == "invalid_phone_number"
    assert api.get("/v1/messages", {"created_after": "yesterday"}).json()["error"]["param"] == "created_after"


def test_listing_takes_a_fixed_number_of_queries(api, django_assert_max_num_queries):
    for _ in range(5):
        send(api)
    with django_assert_max_num_queries(3):
        assert len(api.get("/v1/messages").json()["data"]) == 5


def test_it_cancels_a_scheduled_message_and_refuses_twice(api):
    created = send(api, send_at=(timezone.now() + timedelta(hours=2)).isoformat()).json()
    response = api.post(f"/v1/messages/{created['id']}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    again = api.post(f"/v1/messages/{created['id']}/cancel")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "message_not_cancelable"


def test_the_same_idempotency_key_sends_once(api):
    first = api.post("/v1/messages", {"to": "+15005550000", "from": "Acme", "body": "Hi"}, format="json",
                     HTTP_IDEMPOTENCY_KEY="k-1")
    second = api.post("/v1/messages", {"to": "+15005550000", "from": "Acme", "body": "Hi"}, format="json",
                      HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.json()["id"] == second.json()["id"]
    assert second["Idempotent-Replayed"] == "true"
    assert Message.objects.count() == 1
    other = api.post("/v1/messages", {"to": "+15005550000", "from": "Acme", "body": "Bye"}, format="json",
                     HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422


def test_a_batch_validates_each_message_on_its_own(api):
    messages = [{"to": "+15005550000", "from": "Acme", "body": "one"},
                {"to": "nope", "from": "Acme", "body": "two"},
                {"to": "+12025550123", "from": "Acme", "body": ""}]
    response = api.post("/v1/messages/batch", {"messages": messages}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (1, 2)
    assert body["data"][0]["status"] == "accepted"
    assert body["data"][1]["error"] == {"code": "invalid_phone_number", "param": "messages[1].to",
                                        "message": body["data"][1]["error"]["message"]}
    assert body["data"][2]["error"]["code"] == "body_required"
    assert Message.objects.count() == 1


def test_a_batch_of_1001_is_refused_whole(api):
    messages = [{"to": "+15005550000", "from": "Acme", "body": "x"}] * 1001
    response = api.post("/v1/messages/batch", {"messages": messages}, format="json")
    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == ("batch_too_large", "messages")
    assert Message.objects.count() == 0


def test_a_batch_of_1000_is_accepted(api, live_api):
    live_api.post("/v1/sms/settings", {"velocity_limit": 5000}, format="json")
    messages = [{"to": "+15005550000", "from": "Acme", "body": f"x{i}"} for i in range(1000)]
    response = api.post("/v1/messages/batch", {"messages": messages}, format="json")
    assert response.json()["accepted"] == 1000
    assert Message.objects.count() == 1000


def test_the_daily_cap_stops_sends(api, live_api):
    live_api.post("/v1/sms/settings", {"daily_cap": 2}, format="json")
    assert send(api).status_code == 201
    assert send(api).status_code == 201
    response = send(api)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "daily_cap_reached"
    assert Message.objects.count() == 2


def test_the_velocity_guard_blocks_pumping_to_one_prefix(api, app, provisioned, live_api):
    from cpaas.messaging.infra import fraud_recent

    live_api.post("/v1/sms/settings", {"velocity_limit": 3}, format="json")
    for suffix in range(3):
        assert send(api, to=f"+1202555012{suffix}").status_code == 201
    response = send(api, to="+12025550129")
    assert response.status_code == 403
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == ("suspected_fraud", "to")
    assert send(api, to="+14155550100").status_code == 201  # another prefix is fine
    blocked = fraud_recent(provisioned.tenant.id, app.id)
    assert blocked[0]["to"] == "+12025550129"


def test_a_refused_opted_out_send_does_not_use_the_daily_cap(api, app, live_api):
    live_api.post("/v1/sms/settings", {"daily_cap": 1}, format="json")
    OptOut.objects.create(app=app, number="+12025550123")
    assert send(api, to="+12025550123").json()["error"]["code"] == "recipient_opted_out"
    assert send(api, to="+15005550000").status_code == 201


def test_a_built_message_has_every_field_a_model_instance_would_have(db):
    from django.utils import timezone as tz

    from cpaas.messaging.models import Message as M
    from cpaas.messaging.validation import _new_message

    fast = _new_message(to="+15005550000", created_at=tz.now())
    slow = M(to="+15005550000")
    for field in M._meta.concrete_fields:
        if field.attname in ("id", "created_at"):
            continue
        assert getattr(fast, field.attname) == getattr(slow, field.attname), field.attname
    assert fast.id.startswith("msg_") and fast._state.adding


def test_the_documented_send_fields_are_the_accepted_ones():
    from cpaas.messaging.schemas import SmsMessageIn
    from cpaas.messaging.validation import SEND_FIELDS

    assert set(SmsMessageIn().fields) == set(SEND_FIELDS)


def test_leased_counters_are_not_inherited_by_a_forked_worker(db):
    import os

    from cpaas.messaging.infra import LeasedCounters

    counters = LeasedCounters()
    key = "cpaas:sms:test:fork:day"
    assert counters.take([(key, 60, 1, 10)]) == [0]  # leases counts 1..10, hands out 1
    pid = os.fork()
    if pid == 0:  # pragma: no cover - reports through the exit status
        try:
            # The parent still holds 2..10: a child handing them out too would count one send twice.
            ok = counters.take([(key, 60, 1, 10)]) == [10]
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert counters.take([(key, 60, 1, 10)]) == [1]  # the parent goes on with its own lease


def test_an_app_with_messages_still_cannot_be_deleted(api, app):
    """The message row has no database FK (decision 0415); PROTECT still holds through the ORM."""
    from django.db.models import ProtectedError

    assert send(api).status_code == 201
    with pytest.raises(ProtectedError):
        app.delete()


def test_the_api_answers_json_whatever_plain_accept_and_refuses_others(api):
    for accept in ("*/*", "application/json"):
        response = api.get("/v1/messages", HTTP_ACCEPT=accept)
        assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert api.get("/v1/messages").status_code == 200
    refused = api.get("/v1/messages", HTTP_ACCEPT="text/csv")
    assert refused.status_code == 406
    assert refused["Content-Type"] == "application/json"
