"""API keys: shown once, stored hashed, scoped, expiring, revoked at once, audited, isolated."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from cpaas.core.ratelimit import gate
from cpaas.tenants.keys import api_key_create, hash_secret, key_resolve, principal_cache, revoked_flag
from cpaas.tenants.models import ApiKey, AuditLogEntry
from tests.conftest import client_for


def create_key(api, **body):
    response = api.post("/v1/api-keys", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_a_new_key_is_shown_once_and_stored_only_as_a_hash(api, app):
    created = create_key(api, name="CI")
    secret = created["secret"]
    assert secret.startswith("sk_test_") and len(secret) == len("sk_test_") + 32
    key = ApiKey.objects.get(pk=created["id"])
    assert key.secret_hash == hash_secret(secret)
    stored = " ".join(str(v) for v in ApiKey.objects.filter(pk=key.pk).values().first().values())
    assert secret not in stored
    assert created["redacted"] == f"{secret[:12]}…{secret[-4:]}"
    fetched = api.get(f"/v1/api-keys/{created['id']}").json()
    assert "secret" not in fetched
    listed = api.get("/v1/api-keys").json()["data"]
    assert all("secret" not in item for item in listed)


def test_the_new_key_authenticates(api, app):
    secret = create_key(api, name="CI")["secret"]
    me = client_for(secret).get("/v1/me").json()
    assert me["app"] == app.id


def test_a_revoked_key_fails_at_once_even_when_cached(api, app):
    created = create_key(api, name="doomed")
    doomed = client_for(created["secret"])
    assert doomed.get("/v1/me").status_code == 200  # now cached in this process
    response = api.delete(f"/v1/api-keys/{created['id']}")
    assert response.status_code == 200
    assert response.json()["revoked"] is True
    assert doomed.get("/v1/me").status_code == 401


def test_a_key_revoked_by_another_process_fails_here_at_once(app):
    created = api_key_create(app=app, name="elsewhere")
    client = client_for(created.secret)
    assert client.get("/v1/me").status_code == 200
    # Another process revokes: the row and the shared deny flag change; our cache does not.
    ApiKey.objects.filter(pk=created.key.pk).update(revoked_at=timezone.now())
    gate().deny(revoked_flag(app.tenant_id, created.key.id), 60)
    assert principal_cache.get(hash_secret(created.secret)) is not None
    assert client.get("/v1/me").status_code == 401


def test_an_expired_key_fails(app):
    created = api_key_create(app=app, expires_at=timezone.now() + timedelta(hours=1))
    client = client_for(created.secret)
    assert client.get("/v1/me").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1)):
        assert client.get("/v1/me").status_code == 401


def test_an_expiry_in_the_past_is_refused(api):
    response = api.post("/v1/api-keys", {"expires_at": "2001-01-01T00:00:00Z"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "expires_at"


def test_authenticated_requests_cost_no_database_query(api, django_assert_num_queries):
    api.get("/v1/me")
    with django_assert_num_queries(0):
        assert api.get("/v1/me").status_code == 200


def test_key_resolution_ignores_garbage_without_touching_the_database(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert key_resolve("not-a-key") is None
        assert key_resolve("sk_test_" + "x" * 500) is None


def test_a_read_only_key_may_read_but_not_write(api, app):
    reader = client_for(create_key(api, access="read_only")["secret"])
    assert reader.get("/v1/me").status_code == 200
    response = reader.post("/v1/apps", {"name": "nope"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_a_product_scoped_key_cannot_manage_keys_or_apps(api):
    sms_only = client_for(create_key(api, products=["sms"])["secret"])
    assert sms_only.get("/v1/me").status_code == 200
    assert sms_only.get("/v1/apps").status_code == 403
    assert sms_only.post("/v1/api-keys", {}, format="json").status_code == 403


def test_unknown_product_scopes_are_refused(api):
    response = api.post("/v1/api-keys", {"products": ["fax"]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["param"].startswith("products")


def test_a_test_key_cannot_mint_live_keys(api):
    response = api.post("/v1/api-keys", {"mode": "live"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["param"] == "mode"


def test_a_live_key_may_mint_live_and_test_keys(app):
    live = client_for(api_key_create(app=app, mode="live").secret)
    assert create_key(live, mode="live")["secret"].startswith("sk_live_")
    assert create_key(live, mode="test")["secret"].startswith("sk_test_")


def test_keys_can_be_created_for_another_app_of_the_same_tenant(api, tenant):
    other_app = api.post("/v1/apps", {"name": "Second"}, format="json").json()
    created = create_key(api, app=other_app["id"])
    assert created["app"] == other_app["id"]
    assert [k["id"] for k in api.get(f"/v1/api-keys?app={other_app['id']}").json()["data"]] == [created["id"]]


def test_creation_and_revocation_are_audited_with_actor_and_ip(api, provisioned):
    created = create_key(api, name="audited")
    api.delete(f"/v1/api-keys/{created['id']}", REMOTE_ADDR="203.0.113.9")
    entries = AuditLogEntry.objects.filter(target_id=created["id"]).order_by("created_at")
    assert [e.action for e in entries] == ["api_key.created", "api_key.revoked"]
    assert all(e.actor_key_id == provisioned.test_key.key.id for e in entries)
    assert entries[1].ip == "203.0.113.9"


def test_revoking_twice_audits_once(api):
    created = create_key(api, name="twice")
    api.delete(f"/v1/api-keys/{created['id']}")
    api.delete(f"/v1/api-keys/{created['id']}")
    assert AuditLogEntry.objects.filter(target_id=created["id"], action="api_key.revoked").count() == 1


@pytest.mark.parametrize("method", ["get", "delete"])
def test_another_tenants_key_is_a_404(other_api, api, method):
    created = create_key(api, name="mine")
    response = getattr(other_api, method)(f"/v1/api-keys/{created['id']}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert ApiKey.objects.get(pk=created["id"]).revoked_at is None


def test_listing_keys_shows_only_my_tenants(api, other_api, provisioned, other_provisioned):
    mine = {k["id"] for k in api.get("/v1/api-keys").json()["data"]}
    theirs = {k["id"] for k in other_api.get("/v1/api-keys").json()["data"]}
    assert provisioned.test_key.key.id in mine and other_provisioned.test_key.key.id in theirs
    assert not mine & theirs


def test_listing_another_tenants_app_keys_is_a_404(other_api, app):
    assert other_api.get(f"/v1/api-keys?app={app.id}").status_code == 404


def test_creating_a_key_for_another_tenants_app_is_a_404(other_api, app):
    response = other_api.post("/v1/api-keys", {"app": app.id}, format="json")
    assert response.status_code == 404
    assert not ApiKey.objects.filter(app=app).exclude(name="Default test key").exists()
