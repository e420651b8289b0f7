"""The team's rules in the services: who may change whom, the last owner, ownership handed over,
invitations accepted once and only while valid, and every change audited with its actor."""

from __future__ import annotations

import threading
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from cpaas.core.errors import ApiError
from cpaas.tenants.models import AuditLogEntry, Invitation, Membership, Role
from cpaas.tenants.team import (
    Actor,
    InvitationUnusable,
    invitation_accept,
    invitation_create,
    invitation_revoke,
    member_add,
    member_remove,
    member_set_role,
    token_hash,
)

BASE = "https://console.example.com"


def add(tenant, email: str, role: str) -> Membership:
    user = get_user_model().objects.create_user(username=email, email=email, password="pw-long-enough")
    return member_add(tenant=tenant, user=user, role=role)


def as_member(membership: Membership) -> Actor:
    return Actor(role=membership.role, user_id=membership.user_id, ip="198.51.100.7")


@pytest.fixture
def owner(provisioned) -> Membership:
    return Membership.objects.get(tenant=provisioned.tenant, user=provisioned.user)


def code_of(call) -> str:
    with pytest.raises(ApiError) as caught:
        call()
    return caught.value.code


def test_adding_a_member_and_changing_the_role_are_audited_with_the_actor(tenant, owner):
    dev = add(tenant, "dev@acme.test", Role.DEVELOPER)
    member_set_role(membership=dev, role=Role.FINANCE, actor=as_member(owner))
    entry = AuditLogEntry.objects.get(tenant=tenant, action="member.role_changed")
    assert entry.metadata == {"user": "dev@acme.test", "from": "developer", "to": "finance"}
    assert entry.actor == "owner@acme.test" and entry.ip == "198.51.100.7" and entry.target_id == dev.pk
    assert AuditLogEntry.objects.filter(tenant=tenant, action="member.added", target_id=str(dev.user_id)).exists()


def test_the_last_owner_can_be_neither_demoted_nor_removed(tenant, owner):
    assert code_of(lambda: member_set_role(membership=owner, role=Role.ADMIN, actor=as_member(owner))) == "last_owner"
    assert code_of(lambda: member_remove(membership=owner, actor=as_member(owner))) == "last_owner"
    assert Membership.objects.get(pk=owner.pk).role == Role.OWNER
    assert not AuditLogEntry.objects.filter(action__in=["member.role_changed", "member.removed"]).exists()


def test_an_owner_hands_ownership_over_by_promoting_then_stepping_down(tenant, owner):
    admin = add(tenant, "admin@acme.test", Role.ADMIN)
    member_set_role(membership=admin, role=Role.OWNER, actor=as_member(owner))
    member_set_role(membership=owner, role=Role.ADMIN, actor=as_member(owner))
    assert dict(Membership.objects.filter(tenant=tenant).values_list("user__username", "role")) == {
        "owner@acme.test": "admin", "admin@acme.test": "owner"}
    assert code_of(lambda: member_remove(membership=admin, actor=Actor(role=Role.OWNER))) == "last_owner"


@pytest.mark.parametrize("role", [Role.DEVELOPER, Role.FINANCE, Role.VIEWER])
def test_only_owners_and_admins_change_roles_invite_or_remove(tenant, role):
    actor = as_member(add(tenant, f"{role}@acme.test", role))
    dev = add(tenant, "dev2@acme.test", Role.DEVELOPER)
    assert code_of(lambda: member_set_role(membership=dev, role=Role.ADMIN, actor=actor)) == "insufficient_role"
    assert code_of(lambda: member_remove(membership=dev, actor=actor)) == "insufficient_role"
    assert code_of(lambda: invitation_create(tenant_id=tenant.pk, email="x@acme.test", role=Role.VIEWER,
                                             actor=actor, base_url=BASE)) == "insufficient_role"
    assert Membership.objects.get(pk=dev.pk).role == Role.DEVELOPER and not Invitation.objects.exists()


def test_an_admin_manages_everyone_but_the_owners(tenant, owner):
    admin = as_member(add(tenant, "admin@acme.test", Role.ADMIN))
    dev = add(tenant, "dev@acme.test", Role.DEVELOPER)
    member_set_role(membership=dev, role=Role.VIEWER, actor=admin)
    assert code_of(lambda: member_set_role(membership=dev, role=Role.OWNER, actor=admin)) == "insufficient_role"
    assert code_of(lambda: member_set_role(membership=owner, role=Role.VIEWER, actor=admin)) == "insufficient_role"
    assert code_of(lambda: member_remove(membership=owner, actor=admin)) == "insufficient_role"
    assert code_of(lambda: invitation_create(tenant_id=tenant.pk, email="o@acme.test", role=Role.OWNER,
                                             actor=admin, base_url=BASE)) == "insufficient_role"
    member_remove(membership=dev, actor=admin)
    assert not Membership.objects.filter(pk=dev.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_at_once_leave_one_owner(provisioned):
    tenant = provisioned.tenant
    first = Membership.objects.get(tenant=tenant, user=provisioned.user)
    second = add(tenant, "second@acme.test", Role.OWNER)
    barrier, outcomes = threading.Barrier(2), []

    def demote(target: Membership, actor: Membership) -> None:
        try:
            barrier.wait()
            member_set_role(membership=target, role=Role.ADMIN, actor=as_member(actor))
            outcomes.append("ok")
        except ApiError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=demote, args=(second, first)),
               threading.Thread(target=demote, args=(first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(outcomes) == ["last_owner", "ok"]
    assert Membership.objects.filter(tenant=tenant, role=Role.OWNER).count() == 1


def test_an_invitation_is_accepted_once_with_its_role(tenant, owner):
    invitation = invitation_create(tenant_id=tenant.pk, email="new@acme.test", role=Role.FINANCE,
                                   actor=as_member(owner), base_url=BASE)
    membership = invitation_accept(invitation=invitation, password="a-long-passphrase", ip="203.0.113.9")
    assert membership.role == Role.FINANCE and membership.user.check_password("a-long-passphrase")
    with pytest.raises(InvitationUnusable) as again:
        invitation_accept(invitation=invitation, password="another-passphrase")
    assert again.value.status == "accepted"
    assert get_user_model().objects.get(username="new@acme.test").check_password("a-long-passphrase")
    actions = set(AuditLogEntry.objects.filter(tenant=tenant).values_list("action", flat=True))
    assert {"invitation.created", "invitation.accepted", "member.added"} <= actions


@pytest.mark.parametrize("state", ["expired", "revoked"])
def test_an_expired_or_revoked_invitation_changes_nothing(tenant, owner, state):
    invitation = invitation_create(tenant_id=tenant.pk, email="new@acme.test", role=Role.ADMIN,
                                   actor=as_member(owner), base_url=BASE)
    members_before = Membership.objects.count()
    if state == "revoked":
        invitation_revoke(invitation=invitation, actor=as_member(owner))
        travel = timezone.now()
    else:
        travel = timezone.now() + timedelta(days=7, seconds=1)
    with time_machine.travel(travel, tick=False), pytest.raises(InvitationUnusable) as refused:
        invitation_accept(invitation=invitation, password="a-long-passphrase")
    assert refused.value.status == state
    assert Membership.objects.count() == members_before
    assert not get_user_model().objects.filter(username="new@acme.test").exists()
    assert Invitation.objects.get(pk=invitation.pk).accepted_at is None


def test_an_existing_user_accepts_with_their_account(tenant, owner, other_provisioned):
    invitation = invitation_create(tenant_id=tenant.pk, email="owner@globex.test", role=Role.VIEWER,
                                   actor=as_member(owner), base_url=BASE)
    membership = invitation_accept(invitation=invitation, user=other_provisioned.user)
    assert membership.user == other_provisioned.user and membership.role == Role.VIEWER
    assert Membership.objects.get(tenant=other_provisioned.tenant, user=other_provisioned.user).role == Role.OWNER


def test_passwords_are_hashed_with_argon2(production_password_hashing, provisioned):
    assert provisioned.user.password.startswith("argon2")


def test_the_operator_command_invites_an_owner_and_prints_the_link(tenant, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    out = StringIO()
    call_command("team_invite", tenant.pk, "Heir@Acme.test", "--role", "owner", stdout=out)
    invitation = Invitation.objects.get(email="heir@acme.test")
    assert invitation.role == Role.OWNER
    token = out.getvalue().strip().rsplit("/", 1)[1]
    assert invitation.token_hash == token_hash(token)
    assert AuditLogEntry.objects.get(action="invitation.created").actor_key_id == "manage.py team_invite"
    with pytest.raises(CommandError, match="already_member"):
        call_command("team_invite", tenant.pk, "owner@acme.test", stdout=StringIO())
