"""The SIP endpoints API: create (password shown once), read with registrations, change, delete;
bad input answers a stable code naming the param; another tenant's or mode's endpoint is a 404."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cpaas.sip_edge import conf
from cpaas.sip_edge.credentials import ha1
from cpaas.sip_edge.models import SipEndpoint, SipRegistration
from cpaas.tenants.models import AuditLogEntry


def create(api, **body):
    return api.post("/v1/sip/endpoints", {"username": "alice", **body}, format="json")


def test_it_creates_an_endpoint_with_a_generated_password_shown_once(api, app):
    response = create(api, display_name="Front desk")
    assert response.status_code == 201
    body = response.json()
    assert body["object"] == "sip_endpoint" and body["id"].startswith("sep_")
    realm = app.id.partition("_")[2].lower() + "-test"
    assert body["domain"] == f"{realm}.{conf.SIP_DOMAIN}" and body["sip_uri"] == f"sip:alice@{body['domain']}"
    assert len(body["password"]) == 24 and body["password"].isalnum()
    assert body["display_name"] == "Front desk" and body["enabled"] is True and body["livemode"] is False
    assert body["registrations"] == []
    row = SipEndpoint.objects.get()
    assert row.ha1 == ha1("alice", realm, body["password"]) and body["password"] not in str(row.__dict__)
    assert "password" not in api.get(f"/v1/sip/endpoints/{body['id']}").json()
    assert AuditLogEntry.objects.filter(action="sip_endpoint.created", target_id=body["id"]).exists()


def test_it_keeps_a_given_password_as_ha1_only(api):
    body = create(api, password="correct-horse-battery").json()
    assert body["password"] == "correct-horse-battery"
    row = SipEndpoint.objects.get()
    assert row.ha1 == ha1("alice", row.realm, "correct-horse-battery")


def test_a_duplicate_username_is_409(api):
    assert create(api).status_code == 201
    response = create(api)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "sip_username_taken" and error["param"] == "username"


def test_each_mode_has_its_own_domain_so_the_same_username_exists_in_both(api, live_api):
    test, live = create(api).json(), create(live_api).json()
    assert test["domain"] != live["domain"] and live["domain"].split(".")[0] + "-test" == test["domain"].split(".")[0]
    assert live["livemode"] is True


@pytest.mark.parametrize("username", ["", "Alice", "-alice", "al ice", "a" * 33, "al@ce", "+15551234", 42, None])
def test_a_bad_username_is_400_naming_it(api, username):
    response = api.post("/v1/sip/endpoints", {"username": username}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "username"
    assert not SipEndpoint.objects.exists()


@pytest.mark.parametrize("username", ["alice", "101", "front.desk", "a_b-c", "7"])
def test_good_usernames_are_accepted(api, username):
    assert api.post("/v1/sip/endpoints", {"username": username}, format="json").status_code == 201


@pytest.mark.parametrize("password", ["short", "has a space in it", "x" * 129, "ünïcödé-password", 123456789012])
def test_a_weak_password_is_400(api, password):
    response = create(api, password=password)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "weak_sip_password"
    assert response.json()["error"]["param"] == "password"


def test_an_unknown_field_is_400(api):
    response = create(api, secret="x")
    assert response.status_code == 400 and response.json()["error"]["param"] == "secret"


def test_caller_id_must_be_a_number_of_the_app(api):
    bad = create(api, caller_id="+12025550100")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "caller_id_not_owned"
    assert create(api, caller_id="12345").json()["error"]["code"] == "invalid_phone_number"
    good = create(api, caller_id="+15005559001")  # the sandbox caller-id range every test key owns
    assert good.status_code == 201 and good.json()["caller_id"] == "+15005559001"


def test_it_changes_display_name_caller_id_and_enabled(api):
    endpoint = create(api).json()
    response = api.patch(f"/v1/sip/endpoints/{endpoint['id']}",
                         {"display_name": "Desk 2", "caller_id": "+15005559002", "enabled": False}, format="json")
    body = response.json()
    assert response.status_code == 200 and "password" not in body
    assert (body["display_name"], body["caller_id"], body["enabled"]) == ("Desk 2", "+15005559002", False)
    cleared = api.patch(f"/v1/sip/endpoints/{endpoint['id']}", {"caller_id": None}, format="json").json()
    assert cleared["caller_id"] is None


def test_it_rotates_or_sets_the_password(api):
    endpoint = create(api).json()
    rotated = api.patch(f"/v1/sip/endpoints/{endpoint['id']}", {"rotate_password": True}, format="json").json()
    assert rotated["password"] != endpoint["password"]
    row = SipEndpoint.objects.get()
    assert row.ha1 == ha1("alice", row.realm, rotated["password"])
    given = api.patch(f"/v1/sip/endpoints/{endpoint['id']}", {"password": "another-good-password"}, format="json")
    assert given.json()["password"] == "another-good-password"
    both = api.patch(f"/v1/sip/endpoints/{endpoint['id']}", {"password": "another-good-password",
                                                             "rotate_password": True}, format="json")
    assert both.status_code == 400 and both.json()["error"]["param"] == "rotate_password"


def _register(endpoint_id: str, *, contact: str = "sip:alice@127.0.0.1:5062", expires_in: int = 60) -> None:
    """A registration row as Kamailio writes it (the columns are naive UTC: PostgreSQL converts)."""
    endpoint = SipEndpoint.objects.get(pk=endpoint_id)
    now = timezone.now()
    SipRegistration.objects.create(
        username=endpoint.username, domain=endpoint.realm, contact=contact, received="sip:127.0.0.1:5062",
        expires=now + timedelta(seconds=expires_in), last_modified=now, user_agent="Desk phone 1.0",
        ruid=f"uloc-{endpoint_id}-{contact}", socket="udp:127.0.0.1:5060")


def test_it_shows_live_registrations_only(api):
    endpoint = create(api).json()
    _register(endpoint["id"])
    _register(endpoint["id"], contact="sip:alice@127.0.0.1:5099", expires_in=-5)  # expired
    [registration] = api.get(f"/v1/sip/endpoints/{endpoint['id']}").json()["registrations"]
    assert registration["contact"] == "sip:alice@127.0.0.1:5062"
    assert registration["user_agent"] == "Desk phone 1.0" and registration["source_address"] == "127.0.0.1:5062"
    assert registration["expires_at"].endswith("Z")


def test_the_list_reads_registrations_in_one_query(api):
    for name in ("a1", "a2", "a3"):
        _register(api.post("/v1/sip/endpoints", {"username": name}, format="json").json()["id"])
    with CaptureQueriesContext(connection) as queries:
        body = api.get("/v1/sip/endpoints").json()
    assert [len(e["registrations"]) for e in body["data"]] == [1, 1, 1]
    assert sum('"sip_location"' in q["sql"] for q in queries.captured_queries) == 1


def test_delete_removes_the_endpoint_and_its_registrations(api):
    endpoint = create(api).json()
    _register(endpoint["id"])
    response = api.delete(f"/v1/sip/endpoints/{endpoint['id']}")
    assert response.json() == {"id": endpoint["id"], "object": "sip_endpoint", "deleted": True}
    assert not SipRegistration.objects.exists() and not SipEndpoint.objects.exists()
    assert api.get(f"/v1/sip/endpoints/{endpoint['id']}").status_code == 404
    assert create(api).status_code == 201  # the username is free again


def test_disabling_drops_registrations(api):
    endpoint = create(api).json()
    _register(endpoint["id"])
    api.patch(f"/v1/sip/endpoints/{endpoint['id']}", {"enabled": False}, format="json")
    assert not SipRegistration.objects.exists()


def test_another_tenants_or_modes_endpoint_is_404(api, other_api, live_api):
    endpoint = create(api).json()
    for client in (other_api, live_api):
        assert client.get(f"/v1/sip/endpoints/{endpoint['id']}").status_code == 404
        assert client.patch(f"/v1/sip/endpoints/{endpoint['id']}", {"enabled": False}, format="json").status_code == 404
        assert client.delete(f"/v1/sip/endpoints/{endpoint['id']}").status_code == 404
        assert client.get("/v1/sip/endpoints").json()["data"] == []
    assert SipEndpoint.objects.get().enabled is True


def test_the_endpoint_count_is_capped_per_app_and_mode(api, monkeypatch):
    monkeypatch.setattr(conf, "SIP_ENDPOINTS_PER_APP", 1)
    assert create(api).status_code == 201
    response = api.post("/v1/sip/endpoints", {"username": "bob"}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "too_many_sip_endpoints"
