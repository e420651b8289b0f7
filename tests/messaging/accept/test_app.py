"""The lean send path answers every ``POST /v1/messages`` exactly as the Django view does.

Each differential case sends the same request through Django's test client and through
``cpaas.asgi.application`` under a real uvicorn (tests/support/lean.py), with Django's handler
disabled for the second, and compares status, body and headers. The other tests run through both
paths (the ``send_path`` fixture) with the same assertions.
"""

from __future__ import annotations

import json

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from prometheus_client import REGISTRY

from cpaas.core.idempotency import request_fingerprint
from cpaas.core.models import IdempotencyKey
from cpaas.core.parsers import MAX_DEPTH
from cpaas.messaging.models import Message, OptOut
from cpaas.tenants.keys import api_key_create
from tests.conftest import client_for
from tests.messaging.conftest import send

pytestmark = pytest.mark.django_db(transaction=True)

# Headers whose value differs from one request to the next, whichever path answers.
_VARYING = {"request-id", "ratelimit-remaining", "ratelimit-reset", "location", "date", "server"}
GOOD = {"to": "+15005550000", "from": "Acme", "body": "Hello"}


def _comparable(response) -> tuple[int, dict, dict]:
    body = response.json()
    if "error" in body:
        assert body["error"].pop("request_id") == response["Request-Id"]
    for name in ("id", "created_at", "timestamps"):
        body.pop(name, None)
    headers = {name.lower(): value for name, value in response.headers.items()
               if name.lower() not in _VARYING and name.lower() not in ("content-length", "connection")}
    return response.status_code, body, headers


def assert_same(django_response, lean_response) -> None:
    assert _comparable(lean_response) == _comparable(django_response)
    assert ("Location" in lean_response) == ("Location" in django_response)


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


DEEP = "[" * (MAX_DEPTH + 2) + "]" * (MAX_DEPTH + 2)

CASES = {
    "accepted": (json.dumps(GOOD), "application/json", {}),
    "bad json": ("{bad", "application/json", {}),
    "nul": ('{"to":"+15005550000","from":"Acme","body":"a\\u0000b"}', "application/json", {}),
    "lone surrogate": ('{"to":"+15005550000","from":"Acme","body":"a\\ud800b"}', "application/json", {}),
    "too deep": ('{"to":"+15005550000","from":"Acme","body":"x","reference":' + DEEP + "}", "application/json", {}),
    "not an object": ("[]", "application/json", {}),
    "empty": ("", "application/json", {}),
    "form": ("to=%2B15005550000", "application/x-www-form-urlencoded", {}),
    "charset": (json.dumps(GOOD), "application/json; charset=utf-8", {}),
    "nan": ('{"to":"+15005550000","from":"Acme","body":"x","validity_period":NaN}', "application/json", {}),
    "body not a string": (json.dumps({**GOOD, "body": 5}), "application/json", {}),
    "to not a string": (json.dumps({**GOOD, "to": 5}), "application/json", {}),
    "smart_encoding not a bool": (json.dumps({**GOOD, "smart_encoding": "yes"}), "application/json", {}),
    "validity a bool": (json.dumps({**GOOD, "validity_period": True}), "application/json", {}),
    "unknown field": (json.dumps({**GOOD, "surprise": 1}), "application/json", {}),
    "sender not owned": (json.dumps({**GOOD, "from": "+12025550123"}), "application/json", {}),
    "unknown pool": (json.dumps({**GOOD, "from": None, "sender_pool": "pool_x"}), "application/json", {}),
    "callback to loopback": (json.dumps({**GOOD, "status_callback": "http://127.0.0.1/cb"}), "application/json", {}),
    "callback not http": (json.dumps({**GOOD, "status_callback": "ftp://x"}), "application/json", {}),
    "idempotency key too long": (json.dumps(GOOD), "application/json", {"HTTP_IDEMPOTENCY_KEY": "k" * 256}),
    "idempotency key and bad json": ("{bad", "application/json", {"HTTP_IDEMPOTENCY_KEY": "k-bad"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_lean_path_answers_as_the_django_view(api, lean_only, no_allow_list, case):
    body, content_type, extra = CASES[case]
    expected = api.post("/v1/messages", data=_raw(body), content_type=content_type, **extra)
    got = lean_only(api, data=_raw(body), content_type=content_type, **extra)
    assert got.status_code < 500 and expected.status_code < 500
    assert_same(expected, got)


@pytest.mark.parametrize("secret", [None, "sk_test_nope", "Basic abc"])
def test_authentication_failures_match(lean_only, secret):
    client = client_for(None)
    extra = {"HTTP_AUTHORIZATION": secret if secret and " " in secret else f"Bearer {secret}"} if secret else {}
    expected = client.post("/v1/messages", GOOD, format="json", **extra)
    got = lean_only(client, GOOD, format="json", **extra)
    assert got.status_code == 401
    assert got["WWW-Authenticate"] == 'Bearer realm="cpaas"'
    assert_same(expected, got)


@pytest.mark.parametrize("key", [{"access": "read_only"}, {"products": ["voice"]}])
def test_key_scopes_match(app, lean_only, key):
    client = client_for(api_key_create(app=app, name="scoped", **key).secret)
    expected = client.post("/v1/messages", GOOD, format="json")
    got = lean_only(client, GOOD, format="json")
    assert got.status_code == 403
    assert_same(expected, got)


def test_a_sent_message_reads_the_same_whichever_path_sent_it(api, lean_only):
    fields = {**GOOD, "reference": "r-1", "status_callback_events": ["delivered"]}
    django_sent = api.post("/v1/messages", fields, format="json")
    lean_sent = lean_only(api, fields, format="json")
    assert_same(django_sent, lean_sent)
    assert lean_sent["Location"] == f"/v1/messages/{lean_sent.json()['id']}"
    stored = api.get(lean_sent["Location"]).json()
    assert stored == lean_sent.json()
    assert Message.objects.count() == 2


def test_an_idempotent_send_replays_across_paths(api, lean_only):
    first = api.post("/v1/messages", GOOD, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    replayed = lean_only(api, GOOD, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert replayed.status_code == 201
    assert replayed.json() == first.json()
    assert replayed["Idempotent-Replayed"] == "true"
    assert replayed["Location"] == first["Location"]
    other = lean_only(api, {**GOOD, "body": "Bye"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (other.status_code, other.json()["error"]["code"]) == (422, "idempotency_key_reused")

    sent = lean_only(api, GOOD, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert sent.status_code == 201 and "Idempotent-Replayed" not in sent
    again = api.post("/v1/messages", GOOD, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert again.json() == sent.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Message.objects.count() == 2


def test_a_key_still_in_progress_is_a_409_and_a_refused_send_frees_its_key(api, app, lean_only):
    first = lean_only(api, {**GOOD, "to": "12"}, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    assert first.json()["error"]["code"] == "invalid_phone_number"
    assert not IdempotencyKey.objects.filter(key="k-3").exists()  # errors are not stored
    assert lean_only(api, GOOD, format="json", HTTP_IDEMPOTENCY_KEY="k-3").status_code == 201

    now = timezone.now()
    IdempotencyKey.objects.create(app_id=app.id, mode="test", key="k-4", method="POST", path="/v1/messages",
                                  request_hash=request_fingerprint("POST", "/v1/messages", GOOD), locked_at=now,
                                  expires_at=now + timezone.timedelta(hours=1))
    busy = lean_only(api, GOOD, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    assert (busy.status_code, busy.json()["error"]["code"]) == (409, "idempotency_in_progress")
    assert busy["Retry-After"] == "1"


def test_an_opted_out_recipient_is_refused_and_counts_nothing(api, app, lean_only, live_api):
    live_api.post("/v1/sms/settings", {"daily_cap": 1}, format="json")
    OptOut.objects.create(app=app, number="+12025550123")
    refused = lean_only(api, {**GOOD, "to": "+12025550123"}, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "recipient_opted_out")
    assert lean_only(api, GOOD, format="json").status_code == 201  # the cap's one place is still free


def test_a_body_over_the_limit_is_a_413_before_anything_is_read(api, lean_only):
    too_big = b'{"body":"' + b"a" * django_settings.MAX_REQUEST_BYTES + b'"}'
    got = lean_only(api, data=too_big, content_type="application/json")
    assert (got.status_code, got.json()["error"]["code"]) == (413, "request_too_large")


def test_the_failed_auth_throttle_is_shared_with_the_django_path(settings, send_path):
    settings.AUTH_FAILURES_PER_WINDOW = 3
    settings.AUTH_FAILURE_WINDOW_SECONDS = 30
    guesser = client_for("sk_test_" + "n" * 32)
    statuses = [send(guesser).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    blocked = send(guesser)
    assert blocked.json()["error"]["code"] == "rate_limited"
    assert int(blocked["Retry-After"]) > 0


def test_a_key_over_its_rate_limit_gets_429_with_the_limit_headers(app, send_path):
    client = client_for(api_key_create(app=app, name="slow", rate_limit=1).secret)
    answers = [send(client, to=f"+1202555000{n}") for n in range(4)]
    assert [a.status_code for a in answers][:2] == [201, 201]
    limited = answers[-1]
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited["Retry-After"]) >= 1
    assert limited["RateLimit-Limit"] == "2" and limited["RateLimit-Remaining"] == "0"


def test_a_lean_send_is_counted_in_the_request_metrics_as_django_would(api, lean_only):
    labels = {"route": "messages", "method": "POST", "status": "201"}
    before = REGISTRY.get_sample_value("cpaas_http_requests_total", labels) or 0
    assert lean_only(api, GOOD, format="json").status_code == 201
    assert REGISTRY.get_sample_value("cpaas_http_requests_total", labels) == before + 1
    assert REGISTRY.get_sample_value("cpaas_http_request_duration_seconds_count",
                                     {"route": "messages", "method": "POST"}) >= 1


def test_an_idempotent_send_whose_kick_fails_after_the_commit_is_answered_as_sent(api, lean_only, monkeypatch):
    """Once the send and its idempotency record committed, a failing post-commit kick (the broker
    lost) is logged on both paths: 201, and a retry replays it (the beat's dispatch finds the row)."""

    def broker_lost() -> None:
        raise ConnectionError("broker lost")

    monkeypatch.setattr("cpaas.messaging.services.kick_dispatch", broker_lost)
    django_sent = api.post("/v1/messages", GOOD, format="json", HTTP_IDEMPOTENCY_KEY="k-kick-1")
    lean_sent = lean_only(api, GOOD, format="json", HTTP_IDEMPOTENCY_KEY="k-kick-2")
    assert django_sent.status_code == 201
    assert_same(django_sent, lean_sent)
    again = lean_only(api, GOOD, format="json", HTTP_IDEMPOTENCY_KEY="k-kick-2")
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == lean_sent.json()
    assert Message.objects.count() == 2
