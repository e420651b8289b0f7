"""The API keys page: list, create (secret shown once), revoke with confirmation; tenant isolation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from cpaas.tenants.keys import api_key_create, hash_secret
from cpaas.tenants.models import ApiKey, AuditLogEntry
from cpaas.tenants.services import app_create

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def keys_url(app):
    return reverse("console:keys", args=[app.id])


def new_url(app):
    return reverse("console:key-new", args=[app.id])


def revoke_url(app, key):
    return reverse("console:key-revoke", args=[app.id, key.id])


def create(client, app, **fields):
    data = {"name": "Server", "mode": "test", "access": "full", "expires": "never", **fields}
    return client.post(new_url(app), data, REMOTE_ADDR="198.51.100.7")


def test_the_keys_page_lists_keys_redacted_with_their_settings(owner_client, app, provisioned):
    api_key_create(app=app, name="Reporting", mode="live", access="read_only", products=["sms", "billing"],
                   expires_at=timezone.now() + timedelta(days=3))
    response = owner_client.get(keys_url(app))
    body = response.content.decode()
    assert response.status_code == 200
    default = provisioned.test_key.key
    assert default.redacted in body
    assert provisioned.test_key.secret not in body
    for text in ["Reporting", "Live", "Test", "Read only", "Full access", "SMS, Billing", "All products",
                 "Never", "UTC", "Active"]:
        assert text in body, text


def test_creating_a_key_shows_the_secret_once(owner, owner_client, app):
    response = create(owner_client, app, name="Production server", mode="live", access="read_only",
                      products=["sms", "im"], expires="90")
    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    key = ApiKey.objects.get(app=app, name="Production server")
    secret = body.split('id="new-secret" class="secret-value" type="text" value="')[1].split('"')[0]
    assert secret.startswith("sk_live_")
    assert hash_secret(secret) == key.secret_hash
    assert key.redacted in body
    assert 'data-copy="#new-secret"' in body
    assert (key.mode, key.access, key.products) == ("live", "read_only", ["im", "sms"])
    assert timedelta(days=89) < key.expires_at - timezone.now() <= timedelta(days=90)
    assert key.created_by_id == owner.pk
    # Never again: not on the list, not on the key's row, not on the revoke page.
    for url in [keys_url(app), reverse("console:key-row", args=[app.id, key.id]), revoke_url(app, key)]:
        assert secret not in owner_client.get(url).content.decode()
    assert secret not in owner_client.get(reverse("console:audit")).content.decode()
    # And it works against the API.
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/v1/me").json()["key"]["id"] == key.id


def test_creating_a_key_records_who_and_from_where(owner, owner_client, app):
    create(owner_client, app)
    key = ApiKey.objects.get(app=app, name="Server")
    entry = AuditLogEntry.objects.get(action="api_key.created", target_id=key.id)
    assert (entry.actor_user_id, entry.ip) == (owner.pk, "198.51.100.7")


def test_a_key_can_expire_on_a_chosen_date(owner_client, app):
    day = (timezone.now() + timedelta(days=10)).date()
    response = create(owner_client, app, expires="date", expires_on=day.isoformat())
    assert response.status_code == 201
    key = ApiKey.objects.get(app=app, name="Server")
    assert key.expires_at.date() == day
    assert (key.expires_at.hour, key.expires_at.minute) == (0, 0)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"mode": "prod"}, "mode"),
        ({"access": "admin"}, "access"),
        ({"products": ["fax"]}, "products"),
        ({"expires": "date"}, "expires_on"),
        ({"expires": "date", "expires_on": "2001-01-01"}, "expires_on"),
        ({"expires": "7000"}, "expires"),
    ],
)
def test_bad_key_input_is_shown_on_the_form_and_writes_nothing(owner_client, app, fields, field):
    before = ApiKey.objects.count()
    response = create(owner_client, app, **fields)
    assert response.status_code == 400
    assert response.context["form"].errors.get(field), response.context["form"].errors
    assert b"sk_test_" not in response.content and b"sk_live_" not in response.content
    assert ApiKey.objects.count() == before


def test_the_new_key_form_renders(developer_client, app):
    response = developer_client.get(new_url(app))
    assert response.status_code == 200
    for name in [b'name="name"', b'name="mode"', b'name="access"', b'name="products"', b'name="expires"']:
        assert name in response.content


def test_revoking_asks_for_confirmation_first(owner_client, app, provisioned):
    key = provisioned.test_key.key
    fragment = owner_client.get(revoke_url(app, key), **HTMX)
    assert fragment.status_code == 200
    assert b"<html" not in fragment.content
    assert b"Revoke key" in fragment.content and b"Cancel" in fragment.content
    page = owner_client.get(revoke_url(app, key))
    assert b"<html" in page.content and b"Revoke key" in page.content
    key.refresh_from_db()
    assert key.revoked_at is None
    row = owner_client.get(reverse("console:key-row", args=[app.id, key.id]), **HTMX)
    assert f'id="key-{key.id}"'.encode() in row.content and b"Active" in row.content


def test_revoking_with_htmx_swaps_in_the_revoked_row_and_the_key_fails_at_once(owner, owner_client, app,
                                                                                provisioned):
    key = provisioned.test_key.key
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {provisioned.test_key.secret}")
    assert api.get("/v1/me").status_code == 200  # cached now
    response = owner_client.post(revoke_url(app, key), REMOTE_ADDR="192.0.2.1", **HTMX)
    assert response.status_code == 200
    assert f'<tr id="key-{key.id}"'.encode() in response.content
    assert b"Revoked" in response.content
    assert b"<html" not in response.content
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api.get("/v1/me").status_code == 401
    entry = AuditLogEntry.objects.get(action="api_key.revoked", target_id=key.id)
    assert (entry.actor_user_id, entry.ip) == (owner.pk, "192.0.2.1")


def test_revoking_without_javascript_redirects_to_the_list(developer_client, app, provisioned):
    key = provisioned.test_key.key
    response = developer_client.post(revoke_url(app, key))
    assert response.status_code == 302
    assert response["Location"] == keys_url(app)
    page = developer_client.get(keys_url(app)).content.decode()
    assert "revoked" in page
    assert revoke_url(app, key) not in page  # no revoke button on a revoked key


def test_revoking_twice_is_harmless(owner_client, app, provisioned):
    key = provisioned.test_key.key
    owner_client.post(revoke_url(app, key), **HTMX)
    owner_client.post(revoke_url(app, key), **HTMX)
    assert AuditLogEntry.objects.filter(action="api_key.revoked", target_id=key.id).count() == 1


def test_another_tenants_app_is_a_404_everywhere(owner_client, other_app, other_key):
    assert owner_client.get(keys_url(other_app)).status_code == 404
    assert owner_client.get(new_url(other_app)).status_code == 404
    assert create(owner_client, other_app).status_code == 404
    assert owner_client.get(revoke_url(other_app, other_key), **HTMX).status_code == 404
    assert owner_client.post(revoke_url(other_app, other_key), **HTMX).status_code == 404
    assert owner_client.get(reverse("console:key-row", args=[other_app.id, other_key.id])).status_code == 404
    assert ApiKey.objects.filter(app=other_app).count() == 1
    other_key.refresh_from_db()
    assert other_key.revoked_at is None


def test_another_tenants_key_cannot_be_revoked_through_our_app(owner_client, app, other_key):
    assert owner_client.get(revoke_url(app, other_key)).status_code == 404
    assert owner_client.post(revoke_url(app, other_key)).status_code == 404
    assert owner_client.post(revoke_url(app, other_key), **HTMX).status_code == 404
    other_key.refresh_from_db()
    assert other_key.revoked_at is None
    assert not AuditLogEntry.objects.filter(action="api_key.revoked").exists()


def test_a_key_is_only_reachable_under_its_own_app(owner_client, app, tenant, provisioned):
    second = app_create(tenant_id=tenant.id, name="Second")
    key = provisioned.test_key.key
    assert owner_client.post(revoke_url(second, key)).status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_finance_cannot_touch_keys(finance_client, app, provisioned):
    key = provisioned.test_key.key
    assert finance_client.get(keys_url(app)).status_code == 403
    assert finance_client.get(new_url(app)).status_code == 403
    assert create(finance_client, app).status_code == 403
    assert finance_client.post(revoke_url(app, key)).status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None


def test_expired_keys_show_as_expired_and_cannot_be_revoked_from_the_list(owner_client, app):
    key = api_key_create(app=app, name="Old", expires_at=timezone.now() + timedelta(days=1)).key
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(days=1))
    body = owner_client.get(keys_url(app)).content.decode()
    assert "Expired" in body
    assert revoke_url(app, key) not in body


def test_the_keys_page_costs_a_fixed_number_of_queries(owner_client, app, django_assert_max_num_queries):
    for i in range(8):
        api_key_create(app=app, name=f"Key {i}")
    with django_assert_max_num_queries(12):
        response = owner_client.get(keys_url(app))
    assert response.content.count(b'class="key-row') == 9
