"""/v1/invitations (and POST /v1/members): invite by email, the link in the email, replace, revoke,
already a member, who may invite whom, isolation and the audit log."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from cpaas.tenants.keys import api_key_create
from cpaas.tenants.models import AuditLogEntry, Invitation
from cpaas.tenants.team import token_hash
from tests.conftest import client_for

LINK = re.compile(r"https?://\S+/console/invitations/(\S+)")


def invite(client, email="new@acme.test", role="developer", path="/v1/invitations"):
    return client.post(path, {"email": email, "role": role}, format="json")


@pytest.fixture
def mails(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox.clear()
    return mail.outbox


def test_an_invitation_is_emailed_with_a_single_use_link_whose_secret_is_stored_hashed(
        live_api, tenant, mails, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(live_api, email="New@Acme.test")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["object"] == "invitation" and body["id"].startswith("ivt_")
    assert (body["email"], body["role"], body["status"]) == ("new@acme.test", "developer", "pending")
    assert len(mails) == 1 and mails[0].to == ["new@acme.test"]
    token = LINK.search(mails[0].body).group(1)
    assert "Acme" in mails[0].subject
    invitation = Invitation.objects.get(pk=body["id"])
    assert invitation.token_hash == token_hash(token)
    assert token not in str(body) and token not in str(Invitation.objects.filter(pk=invitation.pk).values().first())
    entry = AuditLogEntry.objects.get(tenant=tenant, action="invitation.created")
    assert entry.target_id == invitation.pk and entry.metadata["email"] == "new@acme.test"
    assert entry.actor_key_id.startswith("key_")


def test_the_link_uses_public_base_url_when_it_is_set(live_api, mails, settings, django_capture_on_commit_callbacks):
    settings.PUBLIC_BASE_URL = "https://console.example.com"
    with django_capture_on_commit_callbacks(execute=True):
        invite(live_api)
    assert "https://console.example.com/console/invitations/" in mails[0].body


def test_post_members_invites_too(live_api, mails, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(live_api, path="/v1/members", role="viewer")
    assert response.status_code == 201 and response.json()["object"] == "invitation"
    assert len(mails) == 1


def test_inviting_an_existing_member_is_409_already_member(live_api, tenant, mails):
    response = invite(live_api, email="OWNER@acme.test")
    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("already_member", "email")
    assert not Invitation.objects.exists() and mails == []


def test_inviting_again_replaces_the_pending_invitation(live_api, tenant):
    first = invite(live_api).json()
    second = invite(live_api, role="finance").json()
    statuses = {i["id"]: i["status"] for i in live_api.get("/v1/invitations").json()["data"]}
    assert statuses == {first["id"]: "revoked", second["id"]: "pending"}


def test_revoking_an_invitation_stops_its_link_and_is_audited(live_api, tenant):
    created = invite(live_api).json()
    response = live_api.delete(f"/v1/invitations/{created['id']}")
    assert response.status_code == 200 and response.json()["status"] == "revoked"
    assert live_api.delete(f"/v1/invitations/{created['id']}").status_code == 200  # twice: a no-op
    assert AuditLogEntry.objects.filter(tenant=tenant, action="invitation.revoked").count() == 1


def test_revoking_an_accepted_invitation_is_409(live_api, tenant):
    created = invite(live_api).json()
    Invitation.objects.filter(pk=created["id"]).update(accepted_at="2026-12-01T00:00:00Z")
    error = live_api.delete(f"/v1/invitations/{created['id']}").json()["error"]
    assert error["code"] == "invitation_accepted"


def test_an_api_key_cannot_invite_an_owner(live_api):
    response = invite(live_api, role="owner")
    assert response.status_code == 403 and response.json()["error"]["code"] == "insufficient_role"
    assert not Invitation.objects.exists()


def test_a_test_key_or_a_read_only_key_cannot_invite(api, app):
    assert invite(api).json()["error"]["code"] == "live_key_required"
    read_only = client_for(api_key_create(app=app, name="ro", mode="live", access="read_only").secret)
    assert invite(read_only).status_code == 403
    assert read_only.get("/v1/invitations").status_code == 200
    assert not Invitation.objects.exists()


def test_bad_input_is_a_400_naming_the_parameter(live_api):
    assert invite(live_api, email="not-an-email").json()["error"]["param"] == "email"
    assert invite(live_api, role="root").json()["error"]["param"] == "role"
    extra = live_api.post("/v1/invitations", {"email": "a@b.test", "role": "viewer", "x": 1}, format="json")
    assert extra.json()["error"]["param"] == "x"


def test_another_tenants_invitations_are_a_404(live_api, other_provisioned):
    other_key = api_key_create(app=other_provisioned.app, name="live", mode="live").secret
    theirs = invite(client_for(other_key), email="x@globex.test").json()
    assert live_api.get(f"/v1/invitations/{theirs['id']}").status_code == 404
    assert live_api.delete(f"/v1/invitations/{theirs['id']}").status_code == 404
    assert Invitation.objects.get(pk=theirs["id"]).status == "pending"
    assert live_api.get("/v1/invitations").json()["data"] == []


def test_a_user_of_another_tenant_can_be_invited(live_api, other_provisioned):
    assert invite(live_api, email="owner@globex.test").status_code == 201
    assert get_user_model().objects.filter(username="owner@globex.test").count() == 1


def test_pending_invitations_are_capped_but_a_resend_is_always_allowed(live_api, settings):
    settings.TEAM_PENDING_INVITATIONS = 2
    assert invite(live_api, email="a@acme.test").status_code == 201
    assert invite(live_api, email="b@acme.test").status_code == 201
    third = invite(live_api, email="c@acme.test")
    assert third.status_code == 409 and third.json()["error"]["code"] == "too_many_invitations"
    assert invite(live_api, email="a@acme.test").status_code == 201  # replaces a's: still 2 pending
    pending = [i for i in live_api.get("/v1/invitations").json()["data"] if i["status"] == "pending"]
    assert len(pending) == 2
    live_api.delete(f"/v1/invitations/{pending[0]['id']}")
    assert invite(live_api, email="c@acme.test").status_code == 201
