"""Malformed input is a 4xx in the one envelope, naming the parameter, and writes nothing.

Each case here parsed or routed fine before and then failed deeper down (PostgreSQL refusing a NUL,
UTF-8 refusing a lone surrogate, the recursion limit, an impossible date) as a 500.
"""

import json

import pytest

from cpaas.core.parsers import MAX_DEPTH
from cpaas.messaging.models import Message
from cpaas.tenants.models import App
from tests.core.test_errors import error_of


def post_raw(api, path: str, body: str):
    return api.post(path, data=body.encode("utf-8", "surrogatepass"), content_type="application/json")


def test_a_nul_in_a_path_id_is_a_400_naming_the_parameter(api):
    response = api.get("/v1/messages/%00")
    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], error["param"]) == ("invalid_characters", "message_id")


def test_a_nul_in_a_path_id_of_an_action_writes_nothing(api, app):
    response = api.post("/v1/apps/app_%00x", {"name": "x"}, format="json")
    assert response.status_code == 400
    assert error_of(response)["param"] == "app_id"


@pytest.mark.parametrize("query", ["status=%00", "to=%2B1%00", "created_after=%00", "starting_after=msg_%00"])
def test_a_nul_in_a_query_value_is_a_400_naming_the_parameter(api, query):
    response = api.get(f"/v1/messages?{query}")
    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], error["param"]) == ("invalid_characters", query.split("=")[0])


def test_a_nul_in_a_json_string_is_a_400_naming_the_field_and_writes_nothing(api, app):
    before = App.objects.count()
    response = post_raw(api, "/v1/apps", '{"name": "a\\u0000b"}')
    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], error["param"]) == ("invalid_characters", "name")
    assert App.objects.count() == before


def test_a_lone_surrogate_in_a_json_string_is_a_400_naming_the_field(api, app):
    before = App.objects.count()
    response = post_raw(api, "/v1/apps", '{"name": "\\ud800"}')
    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], error["param"]) == ("invalid_characters", "name")
    assert App.objects.count() == before


def test_a_nul_deep_in_a_batch_names_the_item(api):
    body = json.dumps({"items": [{"to": "+14155550100", "body": "ok"}, {"to": "+14155550101", "body": "a\x00"}]})
    response = post_raw(api, "/v1/messages/batch", body)
    assert response.status_code == 400
    assert error_of(response)["param"] == "items[1].body"
    assert Message.objects.count() == 0


def test_a_nul_in_a_key_is_refused_too(api):
    response = post_raw(api, "/v1/apps", '{"na\\u0000me": "x"}')
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_characters"


def test_a_properly_paired_surrogate_escape_is_accepted(api, app):
    response = post_raw(api, "/v1/apps", '{"name": "smile \\ud83d\\ude00"}')
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "smile \U0001f600"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000, 200_000])
def test_json_nested_too_deep_is_a_400(api, app, depth):
    before = App.objects.count()
    response = post_raw(api, "/v1/apps", "[" * depth + "]" * depth)
    assert response.status_code == 400
    assert error_of(response)["code"] == "nesting_too_deep"
    assert App.objects.count() == before


def test_nesting_inside_an_object_names_where_it_got_too_deep(api):
    inner = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    response = post_raw(api, "/v1/apps", '{"name": "x", "metadata": ' + inner + "}")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "nesting_too_deep"
    assert error["param"].startswith("metadata[0][0]")


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_invalid_json(api, number):
    response = post_raw(api, "/v1/apps", '{"name": "x", "rate": ' + number + "}")
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


def test_a_wrongly_typed_usage_subject_is_a_400_naming_it(api):
    event = {"meter": "sms_segments", "quantity": 1, "subject": 5, "occurred_at": "2026-01-01T00:00:00Z",
             "idempotency_key": "k1"}
    response = api.post("/v1/usage-events", {"events": [event]}, format="json")
    assert response.status_code == 400
    assert error_of(response)["param"] == "events[0].subject"


@pytest.mark.parametrize("value", ["2026-13-45T00:00:00Z", "2026-02-30T10:00:00+00:00", "2026-01-01T25:00:00Z",
                                   "yesterday", "2026-01-01T00:00:00"])
def test_an_impossible_date_in_a_message_filter_is_a_400(api, value):
    response = api.get("/v1/messages", {"created_after": value})
    assert response.status_code == 400
    assert error_of(response)["param"] == "created_after"


@pytest.mark.parametrize(("path", "param"), [("/v1/usage?meter=sms_segments&from=2026-13-45", "from"),
                                             ("/v1/usage?meter=sms_segments&to=2026-02-30", "to"),
                                             ("/v1/usage/active-subjects?day=2026-00-01", "day")])
def test_an_impossible_date_in_a_usage_filter_is_a_400(api, path, param):
    response = api.get(path)
    assert response.status_code == 400
    assert error_of(response)["param"] == param


def test_a_wrongly_typed_list_item_is_a_400_not_a_crash(api):
    response = api.post("/v1/numbers", {"capabilities": [{}]}, format="json")  # found by tests/core/test_fuzz.py
    assert response.status_code == 400
    assert error_of(response)["param"] == "capabilities"
