"""/v1/members: list, read, change a role, remove; who may (the permission table), the last owner,
tenant isolation and the audit log."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from cpaas.tenants.keys import api_key_create
from cpaas.tenants.models import AuditLogEntry, Membership, Role
from cpaas.tenants.team import member_add
from tests.conftest import client_for


def add(tenant, email: str, role: str) -> Membership:
    user = get_user_model().objects.create_user(username=email, email=email, password="pw-long-enough")
    return member_add(tenant=tenant, user=user, role=role)


@pytest.fixture
def owner_membership(provisioned) -> Membership:
    return Membership.objects.get(tenant=provisioned.tenant, user=provisioned.user)


@pytest.fixture
def read_only_api(app):
    return client_for(api_key_create(app=app, name="ro", mode="live", access="read_only").secret)


def test_a_live_key_lists_the_members_with_their_roles(live_api, tenant, owner_membership):
    dev = add(tenant, "dev@acme.test", Role.DEVELOPER)
    body = live_api.get("/v1/members").json()
    assert body["object"] == "list"
    assert {(m["id"], m["email"], m["role"], m["object"]) for m in body["data"]} == {
        (owner_membership.pk, "owner@acme.test", "owner", "member"), (dev.pk, "dev@acme.test", "developer", "member")}
    assert owner_membership.pk.startswith("mem_")
    assert live_api.get(f"/v1/members/{dev.pk}").json()["email"] == "dev@acme.test"


def test_a_test_key_cannot_read_or_change_the_team(api, tenant, owner_membership):
    dev = add(tenant, "dev@acme.test", Role.DEVELOPER)
    for response in (api.get("/v1/members"), api.patch(f"/v1/members/{dev.pk}", {"role": "admin"}, format="json"),
                     api.delete(f"/v1/members/{dev.pk}")):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "live_key_required"
    assert Membership.objects.get(pk=dev.pk).role == Role.DEVELOPER


def test_a_product_restricted_key_cannot_use_the_team_endpoints(app):
    restricted = client_for(api_key_create(app=app, name="sms", mode="live", products=["sms"]).secret)
    response = restricted.get("/v1/members")
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"


def test_a_live_key_changes_a_role_and_it_is_audited_with_the_key(live_api, app, tenant):
    dev = add(tenant, "dev@acme.test", Role.DEVELOPER)
    response = live_api.patch(f"/v1/members/{dev.pk}", {"role": "finance"}, format="json")
    assert response.status_code == 200 and response.json()["role"] == "finance"
    assert Membership.objects.get(pk=dev.pk).role == Role.FINANCE
    entry = AuditLogEntry.objects.get(tenant=tenant, action="member.role_changed")
    assert entry.target_id == dev.pk and entry.metadata == {"user": "dev@acme.test", "from": "developer",
                                                            "to": "finance"}
    assert entry.actor_key_id.startswith("key_") and entry.actor_user_id is None


def test_a_read_only_key_may_read_the_team_but_not_change_it(read_only_api, tenant):
    dev = add(tenant, "dev@acme.test", Role.DEVELOPER)
    assert read_only_api.get("/v1/members").status_code == 200
    response = read_only_api.patch(f"/v1/members/{dev.pk}", {"role": "admin"}, format="json")
    assert response.status_code == 403
    assert read_only_api.delete(f"/v1/members/{dev.pk}").status_code == 403
    assert Membership.objects.get(pk=dev.pk).role == Role.DEVELOPER
    assert not AuditLogEntry.objects.filter(action__startswith="member.role").exists()


def test_an_api_key_acts_as_an_admin_so_it_never_makes_or_unmakes_an_owner(live_api, tenant, owner_membership):
    dev = add(tenant, "dev@acme.test", Role.DEVELOPER)
    second_owner = add(tenant, "boss@acme.test", Role.OWNER)
    promote = live_api.patch(f"/v1/members/{dev.pk}", {"role": "owner"}, format="json")
    demote = live_api.patch(f"/v1/members/{second_owner.pk}", {"role": "viewer"}, format="json")
    remove = live_api.delete(f"/v1/members/{second_owner.pk}")
    for response in (promote, demote, remove):
        assert response.status_code == 403, response.json()
        assert response.json()["error"]["code"] == "insufficient_role"
    assert Membership.objects.filter(tenant=tenant, role=Role.OWNER).count() == 2


def test_removing_a_member_ends_their_membership_and_is_audited(live_api, tenant):
    dev = add(tenant, "dev@acme.test", Role.DEVELOPER)
    response = live_api.delete(f"/v1/members/{dev.pk}")
    assert response.status_code == 200 and response.json()["deleted"] is True
    assert not Membership.objects.filter(pk=dev.pk).exists()
    assert get_user_model().objects.filter(username="dev@acme.test").exists()  # the account stays
    entry = AuditLogEntry.objects.get(tenant=tenant, action="member.removed")
    assert entry.target_id == dev.pk and entry.metadata == {"user": "dev@acme.test", "role": "developer"}
    assert live_api.get(f"/v1/members/{dev.pk}").status_code == 404


def test_an_unknown_role_is_a_400_naming_the_parameter(live_api, tenant):
    dev = add(tenant, "dev@acme.test", Role.DEVELOPER)
    error = live_api.patch(f"/v1/members/{dev.pk}", {"role": "superuser"}, format="json").json()["error"]
    assert (error["code"], error["param"]) == ("invalid_request", "role")


def test_another_tenants_members_are_a_404_and_unchanged(live_api, other_provisioned):
    theirs = Membership.objects.get(tenant=other_provisioned.tenant)
    other_dev = add(other_provisioned.tenant, "dev@other.test", Role.DEVELOPER)
    assert live_api.get(f"/v1/members/{theirs.pk}").status_code == 404
    assert live_api.patch(f"/v1/members/{other_dev.pk}", {"role": "viewer"}, format="json").status_code == 404
    assert live_api.delete(f"/v1/members/{other_dev.pk}").status_code == 404
    assert Membership.objects.get(pk=other_dev.pk).role == Role.DEVELOPER
    listed = {m["email"] for m in live_api.get("/v1/members").json()["data"]}
    assert "dev@other.test" not in listed and "owner@globex.test" not in listed


def test_listing_members_and_invitations_costs_the_same_queries_for_many(live_api, tenant, django_assert_num_queries):
    add(tenant, "a@acme.test", Role.VIEWER)
    live_api.get("/v1/members")  # the key is cached now
    live_api.post("/v1/invitations", {"email": "i1@acme.test", "role": "viewer"}, format="json")
    with django_assert_num_queries(1):
        few = live_api.get("/v1/members").json()["data"]
    with django_assert_num_queries(1):
        live_api.get("/v1/invitations")
    for n in range(5):
        add(tenant, f"m{n}@acme.test", Role.DEVELOPER)
        live_api.post("/v1/invitations", {"email": f"j{n}@acme.test", "role": "viewer"}, format="json")
    with django_assert_num_queries(1):
        many = live_api.get("/v1/members").json()["data"]
    with django_assert_num_queries(1):
        assert len(live_api.get("/v1/invitations").json()["data"]) == 6
    assert len(many) == len(few) + 5
