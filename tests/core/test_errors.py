"""Every failure under /v1/ answers the one envelope, with the right status, code and param."""

import json

import pytest

from cpaas.core.errors import ERROR_CODES
from cpaas.tenants.models import App

ENVELOPE_FIELDS = {"type", "code", "message", "param", "request_id", "retryable", "doc_url"}


def error_of(response):
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) >= ENVELOPE_FIELDS
    assert body["error"]["request_id"] == response["Request-Id"]
    assert body["error"]["doc_url"].endswith(f"/errors#{body['error']['code']}")
    return body["error"]


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Token sk_test_abc", "Basic c2tfdGVzdDo=", "Bearer sk_test_nope",
     "Bearer sk_live_" + "x" * 32, "Bearer " + "sk_test_" + "y" * 200],
)
def test_it_refuses_missing_or_malformed_keys_with_the_same_401(db, anon, header):
    if header is not None:
        anon.credentials(HTTP_AUTHORIZATION=header)
    response = anon.get("/v1/me")
    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] == "authentication_failed"
    assert error["type"] == "authentication_error"
    assert error["retryable"] is False
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_answers_malformed_json_with_invalid_json_and_writes_nothing(api, app):
    before = App.objects.count()
    response = api.post("/v1/apps", data='{"name": "x",', content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"
    assert App.objects.count() == before


def test_it_names_the_unknown_field(api, app):
    before = App.objects.count()
    response = api.post("/v1/apps", {"name": "x", "colour": "red"}, format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], error["param"]) == ("invalid_request", "colour")
    assert App.objects.count() == before


def test_it_names_the_wrongly_typed_field(api):
    response = api.post("/v1/api-keys", {"products": "sms"}, format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], error["param"]) == ("invalid_request", "products")


def test_it_names_a_missing_field(api):
    response = api.post("/v1/apps", {}, format="json")
    assert response.status_code == 400
    assert (error_of(response)["param"]) == "name"


def test_it_refuses_a_body_that_is_not_an_object(api):
    response = api.post("/v1/apps", data="[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_request"


def test_it_answers_a_wrong_method_with_405_json(api):
    response = api.put("/v1/me", {}, format="json")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_it_refuses_bodies_over_one_mebibyte_with_413_and_writes_nothing(api, app):
    before = App.objects.count()
    body = json.dumps({"name": "x" * (1024 * 1024 + 10)})
    response = api.post("/v1/apps", data=body, content_type="application/json")
    assert response.status_code == 413
    assert error_of(response)["code"] == "request_too_large"
    assert App.objects.count() == before


def test_it_refuses_form_bodies_with_415(api):
    response = api.post("/v1/apps", {"name": "x"})  # multipart by default
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def test_it_answers_unknown_api_urls_with_404_json(api):
    response = api.get("/v1/no-such-thing")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_it_answers_unknown_urls_without_a_key_with_404_json(anon, db):
    response = anon.get("/v1/no/such/thing")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


@pytest.mark.urls("tests.core.urls_boom")
def test_it_turns_a_crash_into_a_retryable_500_json(api):
    response = api.get("/v1/boom")
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "internal_error"
    assert error["retryable"] is True
    assert "kaboom" not in json.dumps(error)


@pytest.mark.urls("tests.core.urls_boom")
def test_a_crash_after_a_write_rolls_the_write_back(api, app):
    before = App.objects.count()
    response = api.post("/v1/boom", {}, format="json")
    assert response.status_code == 500
    assert App.objects.count() == before


@pytest.mark.urls("tests.core.urls_boom")
@pytest.mark.django_db(transaction=True)
def test_work_committed_before_a_post_commit_hook_fails_is_answered_as_done(api):
    # The write is stored; answering 503 would invite a retry without a key to write it twice.
    response = api.post("/v1/broker-lost-after-commit", {}, format="json")
    assert response.status_code == 201
    assert App.objects.filter(pk=response.json()["id"]).exists()


@pytest.mark.urls("tests.core.urls_boom")
def test_it_answers_json_even_with_debug_on(api, settings):
    settings.DEBUG = True
    response = api.get("/v1/boom")
    assert response.status_code == 500
    assert error_of(response)["code"] == "internal_error"


def test_every_code_is_documented():
    from django.conf import settings

    text = (settings.BASE_DIR / "docs" / "errors.md").read_text()
    missing = [code for code in ERROR_CODES if f"`{code}`" not in text]
    assert not missing, f"codes missing from docs/errors.md: {missing}"


def test_the_console_keeps_html_404s(client, db):
    response = client.get("/console/no-such-page")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("path", ["/v1/no-such-thing", "/v1/messages/msg_x/no-such-action", "/v1/"])
def test_unknown_api_urls_are_json_404s_even_with_debug_on(anon, db, settings, path):
    settings.DEBUG = True
    response = anon.get(path)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert b"urlpatterns" not in response.content and b"<html" not in response.content.lower()


def test_doc_url_uses_the_host_the_client_called(anon, db, settings):
    settings.PUBLIC_BASE_URL = ""
    settings.DOCS_URL = ""
    settings.ALLOWED_HOSTS = ["api.example.test"]
    response = anon.get("/v1/me", HTTP_HOST="api.example.test", secure=True)
    assert error_of(response)["doc_url"] == "https://api.example.test/docs/errors#authentication_failed"


def test_doc_url_uses_public_base_url_when_set(anon, db, settings):
    settings.PUBLIC_BASE_URL = "https://cpaas.example.com"
    settings.DOCS_URL = ""
    response = anon.get("/v1/me")
    assert error_of(response)["doc_url"] == "https://cpaas.example.com/docs/errors#authentication_failed"


def test_doc_url_never_echoes_a_host_that_is_not_allowed(anon, db, settings):
    settings.PUBLIC_BASE_URL = ""
    settings.DOCS_URL = ""
    response = anon.get("/v1/me", HTTP_HOST="evil.example")
    assert response.status_code in (400, 401)
    assert "evil.example" not in response.content.decode()


@pytest.mark.urls("tests.core.urls_boom")
@pytest.mark.parametrize("path", ["/v1/redis-down", "/v1/plain-db-down"])
def test_a_lost_dependency_is_a_retryable_503_with_retry_after(api, settings, path):
    for debug in (False, True):
        settings.DEBUG = debug
        response = api.get(path)
        assert response.status_code == 503
        error = error_of(response)
        assert (error["code"], error["retryable"]) == ("service_unavailable", True)
        assert int(response["Retry-After"]) > 0
        assert "127.0.0.1" not in json.dumps(error)
