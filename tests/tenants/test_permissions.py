"""The one permission table: its copy in docs/console.md is the code's, and it fails closed."""

from __future__ import annotations

import re
from pathlib import Path

from cpaas.tenants.models import KeyAccess, Role
from cpaas.tenants.permissions import PERMISSIONS, ROLE_ORDER, Perm, key_role, role_allows, roles_with

DOC = Path(__file__).resolve().parents[2] / "docs" / "console.md"
ROW = re.compile(r"^\| `([a-z.]+)` \|((?: [✓—] \|){5})")


def test_the_docs_print_the_same_table_as_the_code():
    text = DOC.read_text()
    header = next(line for line in text.splitlines() if line.startswith("| permission |"))
    assert [c.strip() for c in header.strip("|").split("|")][1:6] == list(ROLE_ORDER)
    documented = {}
    for line in text.splitlines():
        match = ROW.match(line)
        if match:
            marks = [c.strip() for c in match.group(2).strip(" |").split("|")]
            documented[match.group(1)] = {role for role, mark in zip(ROLE_ORDER, marks, strict=True) if mark == "✓"}
    assert documented == {p.value: set(roles_with(p)) for p in Perm}


def test_every_role_has_a_row_and_unknown_roles_or_permissions_hold_nothing():
    assert set(PERMISSIONS) == set(Role.values) == set(ROLE_ORDER)
    assert not role_allows("superuser", Perm.APPS_READ)
    assert not role_allows(None, Perm.APPS_READ)
    assert not role_allows(Role.OWNER, "apps.delete_everything")


def test_only_owners_touch_owners_and_finance_sees_billing_only():
    assert roles_with(Perm.TEAM_OWNERS) == (Role.OWNER,)
    assert PERMISSIONS[Role.FINANCE] == {Perm.BILLING_READ, Perm.BILLING_WRITE}
    assert not any(p.endswith(".write") or p == Perm.TEAM_OWNERS for p in PERMISSIONS[Role.VIEWER])


def test_keys_act_as_admin_or_viewer_only_when_live_and_unrestricted():
    assert key_role(mode="live", access=KeyAccess.FULL, products=()) == Role.ADMIN
    assert key_role(mode="live", access=KeyAccess.READ_ONLY, products=()) == Role.VIEWER
    assert key_role(mode="test", access=KeyAccess.FULL, products=()) is None
    assert key_role(mode="live", access=KeyAccess.FULL, products=("sms",)) is None
