"""Tenant suspension (operator only): every key of the tenant gets 403 tenant_suspended at once,
cached keys included; other tenants are untouched; resuming restores the keys at once; revoked keys
stay revoked; both are audited and run from management commands."""

from __future__ import annotations

import base64
import time
from io import StringIO

import pytest
from django.core.management import call_command

from cpaas.core.ratelimit import gate
from cpaas.tenants.keys import api_key_create, api_key_revoke, principal_cache
from cpaas.tenants.models import AuditLogEntry, Tenant
from cpaas.tenants.suspension import suspension_cache_clear, tenant_resume, tenant_suspend
from cpaas.twilio.sids import account_sid
from tests.conftest import client_for


@pytest.fixture(autouse=True)
def _fresh():
    suspension_cache_clear()
    yield
    suspension_cache_clear()


def drop_flags(tenant) -> None:
    """As if the fast flags were gone (expired, or Redis lost them): lifted everywhere, and this
    process's listener has heard both the raise and the lift (pub/sub delivers them in order)."""
    flags = [k.decode() for k in gate().client.keys(f"cpaas:revoked:{tenant.pk}:*")]
    for flag in flags:
        gate().undeny(flag)
    deadline = time.monotonic() + 5
    while any(gate()._denied.get(flag, 0) > time.monotonic() for flag in flags) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # the lift's own message, after which nothing re-raises a flag


def code(response) -> str:
    return response.json()["error"]["code"]


def test_a_suspended_tenants_keys_are_refused_at_once_even_when_cached(api, live_api, other_api, tenant):
    assert api.get("/v1/me").status_code == 200 and live_api.get("/v1/apps").status_code == 200  # cached now
    assert tenant_suspend(tenant=tenant, reason="unpaid", actor="test") is True
    for response in (api.get("/v1/me"), live_api.get("/v1/apps"),
                     live_api.post("/v1/messages", {"to": "+15005550006", "body": "hi"}, format="json")):
        assert response.status_code == 403 and code(response) == "tenant_suspended"
    assert other_api.get("/v1/me").status_code == 200
    entry = AuditLogEntry.objects.get(tenant=tenant, action="tenant.suspended")
    assert entry.metadata == {"reason": "unpaid", "by": "test"}


def test_the_refusal_holds_after_the_fast_flags_are_gone(api, tenant, secret):
    """A process that starts later (or a flag lost with Redis) reads the suspension from the database."""
    tenant_suspend(tenant=tenant, reason="fraud", actor="test")
    assert api.get("/v1/me").status_code == 403  # refused by the flag
    drop_flags(tenant)
    principal_cache.clear()
    suspension_cache_clear()
    response = client_for(secret).get("/v1/me")
    assert response.status_code == 403 and code(response) == "tenant_suspended"


def test_resuming_restores_the_keys_at_once(api, tenant):
    tenant_suspend(tenant=tenant, reason="unpaid", actor="test")
    assert api.get("/v1/me").status_code == 403
    assert tenant_resume(tenant=tenant, actor="test") is True
    assert api.get("/v1/me").status_code == 200
    assert AuditLogEntry.objects.filter(tenant=tenant, action="tenant.resumed").count() == 1
    assert tenant_resume(tenant=tenant, actor="test") is False  # not suspended: nothing to do


def test_a_key_read_while_suspended_works_again_after_resume(tenant, secret):
    tenant_suspend(tenant=tenant, reason="unpaid", actor="test")
    drop_flags(tenant)
    principal_cache.clear()
    assert client_for(secret).get("/v1/me").status_code == 403  # cached with suspended=True
    Tenant.objects.filter(pk=tenant.pk).update(suspended_at=None)  # resumed by another process
    suspension_cache_clear()
    assert client_for(secret).get("/v1/me").status_code == 200


def test_a_revoked_key_stays_revoked_after_resume(app, tenant):
    created = api_key_create(app=app, name="old", mode="live")
    api_key_revoke(key=created.key)
    tenant_suspend(tenant=tenant, reason="x", actor="test")
    tenant_resume(tenant=tenant, actor="test")
    response = client_for(created.secret).get("/v1/me")
    assert response.status_code == 401 and code(response) == "authentication_failed"


def test_the_operator_commands_suspend_and_resume(api, tenant):
    out = StringIO()
    call_command("tenant_suspend", tenant.pk, "--reason", "chargeback", stdout=out)
    assert "suspended" in out.getvalue()
    assert Tenant.objects.get(pk=tenant.pk).suspended_reason == "chargeback"
    assert code(api.get("/v1/me")) == "tenant_suspended"
    call_command("tenant_resume", tenant.pk, stdout=StringIO())
    assert api.get("/v1/me").status_code == 200


def test_the_twilio_compatible_api_refuses_a_suspended_tenant_too(app, tenant, secret):
    sid = account_sid(app.id)
    twilio = client_for(None)
    twilio.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{sid}:{secret}".encode()).decode())
    url = f"/2010-04-01/Accounts/{sid}/Messages.json"
    assert twilio.get(url).status_code == 200
    tenant_suspend(tenant=tenant, reason="unpaid", actor="test")
    response = twilio.get(url)
    assert (response.status_code, response.json()["code"]) == (403, 10001)


@pytest.mark.django_db(transaction=True)
def test_a_suspended_tenants_send_is_refused_on_both_send_paths(send_path, provisioned, secret):
    """The lean ASGI send path (cpaas/messaging/accept/) admits keys through the same function."""
    client = client_for(secret)
    tenant_suspend(tenant=provisioned.tenant, reason="unpaid", actor="test")
    response = client.post("/v1/messages", {"to": "+15005550006", "from": "Acme", "body": "hi"}, format="json")
    assert response.status_code == 403 and code(response) == "tenant_suspended"
