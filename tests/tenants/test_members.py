"""Members and roles: adding and changing roles is audited."""

from django.contrib.auth import get_user_model

from cpaas.tenants.models import AuditLogEntry, Role
from cpaas.tenants.services import member_add, member_set_role


def test_adding_a_member_and_changing_the_role_are_audited(tenant, provisioned):
    user = get_user_model().objects.create_user("dev@acme.test", password="pw-long-enough")
    membership = member_add(tenant=tenant, user=user, role=Role.DEVELOPER, actor_user_id=provisioned.user.pk,
                            ip="198.51.100.4")
    member_set_role(membership=membership, role=Role.FINANCE, actor_user_id=provisioned.user.pk)
    actions = list(AuditLogEntry.objects.filter(tenant=tenant, target_id=str(user.pk))
                   .order_by("created_at").values_list("action", "metadata"))
    assert actions == [
        ("member.added", {"username": "dev@acme.test", "role": "developer"}),
        ("member.role_changed", {"from": "developer", "to": "finance"}),
    ]
    entry = AuditLogEntry.objects.get(action="member.added", target_id=str(user.pk))
    assert entry.ip == "198.51.100.4" and entry.actor == "owner@acme.test"


def test_passwords_are_hashed_with_argon2(production_password_hashing, provisioned):
    assert provisioned.user.password.startswith("argon2")
