"""The console's Team page and the invitation link: invite, change roles, remove, revoke; the last
owner; the accept page for a new address, an existing account, a tenant requiring a second factor;
an expired, used, revoked or unknown link answered with a page that says so, and nothing changed."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cpaas.console.models import AuthenticatorDevice
from cpaas.tenants.models import AuditLogEntry, Invitation, Membership, Role
from tests.console.conftest import PASSWORD, logged_in

LINK = re.compile(r"https?://[^/\s]+(/console/invitations/\S+)")


@pytest.fixture(autouse=True)
def _locmem_email(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def invite(client, email="new@acme.test", role="developer"):
    return client.post(reverse("console:team"), {"email": email, "role": role})


def invited_path() -> str:
    return LINK.search(mail.outbox[-1].body).group(1)


@pytest.fixture
def sent(owner_client, django_capture_on_commit_callbacks):
    """An owner invited new@acme.test as finance; the path of the emailed link."""
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(owner_client, role="finance")
    assert response.status_code == 302
    return invited_path()


def test_an_owner_invites_by_email_and_sees_the_invitation_pending(owner_client, owner, sent):
    outbox = mail.outbox
    assert outbox[0].to == ["new@acme.test"] and "http://testserver/console/invitations/" in outbox[0].body
    page = owner_client.get(reverse("console:team")).content.decode()
    assert "new@acme.test" in page and "owner@acme.test" in page
    entry = AuditLogEntry.objects.get(action="invitation.created")
    assert entry.actor_user_id == owner.pk and entry.metadata["role"] == "finance"


def test_inviting_an_existing_member_says_so_and_sends_nothing(owner_client, developer):
    response = invite(owner_client, email="dev@acme.test")
    assert response.status_code == 409
    assert "already a member" in response.content.decode()
    assert mail.outbox == [] and not Invitation.objects.exists()


def test_only_owners_may_offer_the_owner_role(owner_client, admin_client):
    assert 'value="owner"' in owner_client.get(reverse("console:team")).content.decode()
    assert 'value="owner"' not in admin_client.get(reverse("console:team")).content.decode()
    assert invite(admin_client, role="owner").status_code == 400  # not a choice it is offered
    assert not Invitation.objects.exists()


def test_a_developer_cannot_open_the_team_page_or_change_roles(developer_client, owner):
    owner_row = Membership.objects.get(user=owner)
    assert developer_client.get(reverse("console:team")).status_code == 403
    assert invite(developer_client).status_code == 403
    response = developer_client.post(reverse("console:team-member-role", args=[owner_row.pk]), {"role": "viewer"})
    assert response.status_code == 403
    assert Membership.objects.get(pk=owner_row.pk).role == Role.OWNER


def test_a_viewer_sees_the_team_without_controls(viewer_client, developer):
    page = viewer_client.get(reverse("console:team")).content.decode()
    assert "dev@acme.test" in page
    assert "Change role" not in page and "Send invitation" not in page and ">Remove<" not in page
    dev_row = Membership.objects.get(user=developer)
    response = viewer_client.post(reverse("console:team-member-role", args=[dev_row.pk]), {"role": "admin"})
    assert response.status_code == 403 and Membership.objects.get(pk=dev_row.pk).role == Role.DEVELOPER


def test_an_owner_changes_a_role_and_removes_a_member(owner_client, developer):
    row = Membership.objects.get(user=developer)
    response = owner_client.post(reverse("console:team-member-role", args=[row.pk]), {"role": "viewer"})
    assert response.status_code == 302 and Membership.objects.get(pk=row.pk).role == Role.VIEWER
    assert owner_client.post(reverse("console:team-member-remove", args=[row.pk])).status_code == 302
    assert not Membership.objects.filter(pk=row.pk).exists()
    # The removed member's session loses the tenant at its next page.
    assert logged_in(developer).get(reverse("console:apps"))["Location"] == reverse("console:no-tenant")


def test_the_last_owner_cannot_step_down_or_leave(owner_client, owner):
    row = Membership.objects.get(user=owner)
    demote = owner_client.post(reverse("console:team-member-role", args=[row.pk]), {"role": "admin"})
    assert demote.status_code == 409 and "last owner" in demote.content.decode()
    remove = owner_client.post(reverse("console:team-member-remove", args=[row.pk]))
    assert remove.status_code == 409
    assert Membership.objects.get(pk=row.pk).role == Role.OWNER


def test_an_admin_cannot_touch_the_owner(admin_client, owner):
    row = Membership.objects.get(user=owner)
    assert f'id="role-{row.pk}"' not in admin_client.get(reverse("console:team")).content.decode()
    assert admin_client.post(reverse("console:team-member-remove", args=[row.pk])).status_code == 403
    assert Membership.objects.filter(pk=row.pk).exists()


def test_another_tenants_member_is_a_404(owner_client, other_provisioned):
    theirs = Membership.objects.get(tenant=other_provisioned.tenant)
    assert owner_client.post(reverse("console:team-member-remove", args=[theirs.pk])).status_code == 404
    assert Membership.objects.filter(pk=theirs.pk).exists()


def test_revoking_an_invitation_kills_its_link(owner_client, sent):
    invitation = Invitation.objects.get()
    assert owner_client.post(reverse("console:team-invitation-revoke", args=[invitation.pk])).status_code == 302
    response = Client().get(sent)
    assert response.status_code == 410 and "cancelled" in response.content.decode()


# --- The accept page ---------------------------------------------------------------------------------


def test_a_new_address_sets_a_password_and_is_signed_in_with_the_invited_role(sent):
    browser = Client()
    page = browser.get(sent)
    assert page.status_code == 200 and "Finance" in page.content.decode()
    response = browser.post(sent, {"password1": "a-long-passphrase", "password2": "a-long-passphrase"})
    assert response.status_code == 302
    assert browser.get(reverse("console:home"))["Location"] == "/console/billing/"  # finance: billing only
    membership = Membership.objects.get(user__username="new@acme.test")
    assert membership.role == Role.FINANCE
    assert membership.user.check_password("a-long-passphrase")
    assert AuditLogEntry.objects.filter(action="invitation.accepted", actor_user=membership.user).exists()


def test_a_used_link_says_so_and_changes_nothing(sent):
    Client().post(sent, {"password1": "a-long-passphrase", "password2": "a-long-passphrase"})
    again = Client().post(sent, {"password1": "other-passphrase-9", "password2": "other-passphrase-9"})
    assert again.status_code == 410 and "already used" in again.content.decode()
    assert get_user_model().objects.get(username="new@acme.test").check_password("a-long-passphrase")


def test_an_expired_link_says_so_and_changes_nothing(sent):
    with time_machine.travel(timezone.now() + timedelta(days=8), tick=False):
        page = Client().get(sent)
        posted = Client().post(sent, {"password1": "a-long-passphrase", "password2": "a-long-passphrase"})
    assert page.status_code == posted.status_code == 410
    assert "has expired" in posted.content.decode()
    assert not get_user_model().objects.filter(username="new@acme.test").exists()


def test_an_unknown_link_is_a_404_page(db):
    response = Client().get(reverse("console:invitation", args=["not-a-real-token"]))
    assert response.status_code == 404 and "not valid" in response.content.decode()


def test_passwords_must_match_and_pass_the_validators(sent):
    mismatch = Client().post(sent, {"password1": "a-long-passphrase", "password2": "a-long-passphrasX"})
    short = Client().post(sent, {"password1": "short", "password2": "short"})
    assert mismatch.status_code == short.status_code == 400
    assert Invitation.objects.get().status == "pending"


def test_an_existing_account_signs_in_then_joins(owner_client, other_provisioned,
                                                 django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invite(owner_client, email="owner@globex.test", role="viewer")
    path = invited_path()
    assert "Sign in to accept" in Client().get(path).content.decode()
    them = logged_in(other_provisioned.user)
    assert them.post(path).status_code == 302
    assert Membership.objects.get(user=other_provisioned.user, tenant__name="Acme").role == Role.VIEWER
    stranger = logged_in(get_user_model().objects.create_user("eve@evil.test", password=PASSWORD))
    assert stranger.get(path).status_code == 410  # used now; before that a stranger got a 403 page


def test_someone_signed_in_as_another_user_cannot_accept(sent, developer):
    response = logged_in(developer).post(sent, {"password1": "a-long-passphrase", "password2": "a-long-passphrase"})
    assert response.status_code == 403 and "Log out" in response.content.decode()
    assert Invitation.objects.get().status == "pending"


def test_a_tenant_that_requires_a_second_factor_sends_the_new_member_to_set_it_up(tenant, sent):
    tenant.require_two_factor = True
    tenant.save(update_fields=["require_two_factor"])
    browser = Client()
    assert "set it up next" in browser.get(sent).content.decode()
    browser.post(sent, {"password1": "a-long-passphrase", "password2": "a-long-passphrase"})
    assert browser.get(reverse("console:home"))["Location"] == reverse("console:two-factor")


def test_the_team_page_shows_who_has_two_factor_sign_in(owner_client, developer):

    AuthenticatorDevice.objects.create(user=developer, name="app", key="00" * 20, confirmed=True)
    page = owner_client.get(reverse("console:team")).content.decode()
    dev_row = page.split(f'id="member-{Membership.objects.get(user=developer).pk}"')[1].split("</tr>")[0]
    assert ">On<" in dev_row
