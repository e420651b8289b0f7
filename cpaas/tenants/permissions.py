"""The one permission table: what each member role may do, in the console and the management API.

A role is a set of permissions; a page or an endpoint names the permission it needs and asks
``role_allows``. The console (``cpaas.console.access.console_view``) and the API
(``cpaas.tenants.api``) read this table and nothing else, and docs/console.md prints it
(``tests/tenants/test_permissions.py`` keeps the two in step). Decision 1300.

An API key is not a person: a live, full-access key without product restriction acts with the
``admin`` role, a live read-only one with ``viewer``; test keys and product-restricted keys have no
say over the team (``key_role``). So nothing an API key does can make, unmake or remove an owner.
"""

from __future__ import annotations

from enum import StrEnum

from cpaas.tenants.models import KeyAccess, KeyMode, Role


class Perm(StrEnum):
    APPS_READ = "apps.read"  # the overview, apps and API keys (redacted)
    APPS_WRITE = "apps.write"  # create apps, create and revoke API keys
    CHANNELS_READ = "channels.read"  # SMS, IM, voice and webhook pages and logs
    CHANNELS_WRITE = "channels.write"  # actions there: rotate signing secrets, retry deliveries…
    BILLING_READ = "billing.read"  # usage, upcoming invoice, invoices and their downloads
    BILLING_WRITE = "billing.write"  # billing actions a tenant takes (top-ups, payment details)
    TEAM_READ = "team.read"  # members and pending invitations
    TEAM_WRITE = "team.write"  # invite, revoke invitations, change the role of or remove a non-owner
    TEAM_OWNERS = "team.owners"  # make someone an owner, change or remove an owner (ownership transfer)
    AUDIT_READ = "audit.read"  # the audit log
    SETTINGS_WRITE = "settings.write"  # the tenant's security settings (require two-factor sign-in)


_READS = {Perm.APPS_READ, Perm.CHANNELS_READ, Perm.BILLING_READ, Perm.TEAM_READ}

PERMISSIONS: dict[str, frozenset[Perm]] = {
    Role.OWNER: frozenset(Perm),
    Role.ADMIN: frozenset(set(Perm) - {Perm.TEAM_OWNERS, Perm.SETTINGS_WRITE}),
    Role.DEVELOPER: frozenset({Perm.APPS_READ, Perm.APPS_WRITE, Perm.CHANNELS_READ, Perm.CHANNELS_WRITE}),
    Role.FINANCE: frozenset({Perm.BILLING_READ, Perm.BILLING_WRITE}),
    Role.VIEWER: frozenset(_READS),
}

#: Roles shown in pickers, most powerful first.
ROLE_ORDER = (Role.OWNER, Role.ADMIN, Role.DEVELOPER, Role.FINANCE, Role.VIEWER)


def role_allows(role: str | None, perm: str) -> bool:
    """True when ``role`` holds ``perm``; an unknown role or permission holds nothing (fails closed)."""
    return perm in PERMISSIONS.get(role or "", frozenset())


def permissions_of(role: str | None) -> frozenset[str]:
    """The role's permissions as plain strings (what templates test: ``"apps.write" in console_can``)."""
    return frozenset(p.value for p in PERMISSIONS.get(role or "", frozenset()))


def roles_with(perm: str) -> tuple[str, ...]:
    """The roles that hold ``perm``, in ``ROLE_ORDER``."""
    return tuple(role for role in ROLE_ORDER if role_allows(role, perm))


def key_role(*, mode: str, access: str, products) -> str | None:
    """The role an API key acts with on the team endpoints, or None when it may not use them."""
    if mode != KeyMode.LIVE or products:
        return None
    return Role.ADMIN if access == KeyAccess.FULL else Role.VIEWER
