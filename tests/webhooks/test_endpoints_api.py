import base64

import pytest

from tests.support.ssrf import REFUSED_URLS, answer_names
from webhooks import conf
from webhooks.models import Endpoint


def _create(api, **body):
    return api.post("/v1/webhook-endpoints", {"url": "https://hooks.example.com/x", **body}, format="json")


def test_it_creates_an_endpoint_and_shows_the_secret_once(api):
    response = _create(api, description="orders", event_types=["ping"])
    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("we_")
    assert body["secret"].startswith("whsec_")
    assert len(base64.b64decode(body["secret"].removeprefix("whsec_"))) >= 24
    assert body["event_types"] == ["ping"]
    fetched = api.get(f"/v1/webhook-endpoints/{body['id']}").json()
    assert "secret" not in fetched
    assert fetched["url"] == "https://hooks.example.com/x"
    listed = api.get("/v1/webhook-endpoints").json()
    assert [e["id"] for e in listed["data"]] == [body["id"]]
    assert "secret" not in listed["data"][0]


def test_it_rotates_the_secret_and_shows_the_new_one_once(api):
    endpoint = _create(api).json()
    rotated = api.post(f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", {}, format="json").json()
    assert rotated["secret"] != endpoint["secret"]
    assert rotated["secrets_active"] == 2


def test_it_updates_and_deletes_an_endpoint(api):
    endpoint = _create(api).json()
    patched = api.patch(f"/v1/webhook-endpoints/{endpoint['id']}",
                        {"enabled": False, "event_types": ["webhook_endpoint.disabled"], "rate_limit": 5},
                        format="json")
    assert patched.status_code == 200
    assert patched.json()["enabled"] is False
    assert patched.json()["rate_limit"] == 5
    assert api.delete(f"/v1/webhook-endpoints/{endpoint['id']}").json()["deleted"] is True
    assert not Endpoint.objects.exists()


def test_it_refuses_an_unknown_event_type_in_the_filter(api):
    response = _create(api, event_types=["ping", "message.teleported"])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_event_type"
    assert response.json()["error"]["param"] == "event_types[1]"


def test_it_refuses_an_unknown_event_type_in_a_patch(api):
    endpoint = _create(api).json()
    response = api.patch(f"/v1/webhook-endpoints/{endpoint['id']}", {"event_types": ["nope"]}, format="json")
    assert response.json()["error"]["code"] == "unknown_event_type"


@pytest.mark.parametrize("url", ["not a url", "ftp://hooks.example.com/x", "https://user:pass@hooks.example.com/x"])
def test_it_refuses_urls_that_are_not_http(api, url):
    response = _create(api, url=url)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_webhook_url"
    assert response.json()["error"]["param"] == "url"


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_it_refuses_every_spelling_of_a_non_public_address(api, no_allow_list, resolver, url):
    answer_names(resolver)
    response = _create(api, url=url)
    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == ("url_not_allowed", "url")
    endpoint = _create(api, url="https://93.184.216.34/hook").json()
    response = api.patch(f"/v1/webhook-endpoints/{endpoint['id']}", {"url": url}, format="json")
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == ("url_not_allowed", "url")


def test_it_refuses_a_hostname_resolving_to_a_private_address(api, resolver):
    resolver["internal.example.com"] = [["10.1.2.3", "93.184.216.34"]]
    response = _create(api, url="https://internal.example.com/hook")
    assert response.json()["error"]["code"] == "url_not_allowed"
    assert "10.1.2.3" in response.json()["error"]["message"]


def test_it_requires_https_in_live_mode(live_api):
    response = _create(live_api, url="http://hooks.example.com/x")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_webhook_url"
    assert "https" in response.json()["error"]["message"]
    assert _create(live_api, url="https://hooks.example.com/x").status_code == 201


def test_it_allows_a_configured_cidr(api, allow_loopback):
    assert _create(api, url="http://127.0.0.1:9/hook").status_code == 201


def test_it_refuses_unknown_parameters(api):
    response = _create(api, colour="blue")
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["param"] == "colour"


def test_it_requires_a_url(api):
    response = api.post("/v1/webhook-endpoints", {}, format="json")
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["param"] == "url"


def test_another_tenant_s_endpoint_is_not_found(api, other_api):
    endpoint = _create(api).json()
    base = f"/v1/webhook-endpoints/{endpoint['id']}"
    assert other_api.get(base).status_code == 404
    assert other_api.patch(base, {"enabled": False}, format="json").status_code == 404
    assert other_api.delete(base).status_code == 404
    assert other_api.get(f"{base}/deliveries").status_code == 404
    assert other_api.post(f"{base}/test", {}, format="json").status_code == 404
    assert other_api.post(f"{base}/rotate-secret", {}, format="json").status_code == 404
    assert other_api.post(f"{base}/recover", {"since": "2026-01-01T00:00:00Z"}, format="json").status_code == 404
    assert other_api.get("/v1/webhook-endpoints").json()["data"] == []
    assert Endpoint.objects.get().enabled


def test_listing_endpoints_takes_a_constant_number_of_queries(api, django_assert_max_num_queries):
    for n in range(5):
        _create(api, url=f"https://hooks.example.com/{n}")
    with django_assert_max_num_queries(6):
        assert len(api.get("/v1/webhook-endpoints").json()["data"]) == 5


def test_event_types_lists_the_catalog_with_schemas(api):
    body = api.get("/v1/event-types").json()
    types = {item["type"]: item for item in body["data"]}
    assert {"ping", "webhook_endpoint.disabled", "webhook.attempt.failing", "webhook.attempt.exhausted",
            "webhook.attempt.recovered"} <= set(types)
    assert types["ping"]["version"] == 1
    assert types["ping"]["schema"]["type"] == "object"


def test_an_app_has_a_bounded_number_of_endpoints_per_mode(api, live_api, monkeypatch):
    # Every event goes to every endpoint: without a cap one message fans out without bound.
    monkeypatch.setattr(conf, "ENDPOINTS_PER_APP", 2)
    assert [_create(api).status_code for _ in range(2)] == [201, 201]
    refused = _create(api)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "too_many_endpoints")
    assert Endpoint.objects.filter(mode="test").count() == 2
    assert _create(live_api).status_code == 201
