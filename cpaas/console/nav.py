"""The console's navigation: the foundation's pages and one slot per room.

A room appears in the nav only once its ``<room>/console_urls.py`` exists and serves a landing
page at ``/console/<prefix>/`` (see docs/console.md). ``roles`` are the roles that may read the
room's pages, from the permission table (cpaas/tenants/permissions.py): the nav only hides links,
``console_view`` enforces.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import Resolver404, resolve, reverse

from cpaas.tenants.models import Role
from cpaas.tenants.permissions import Perm, roles_with


@dataclass(frozen=True)
class RoomSlot:
    module: str
    prefix: str
    label: str
    roles: tuple[str, ...]

    @property
    def path(self) -> str:
        return f"/console/{self.prefix}/"


CHANNEL_READERS = roles_with(Perm.CHANNELS_READ)

ROOMS = (
    RoomSlot("cpaas.messaging", "sms", "SMS", CHANNEL_READERS),
    RoomSlot("cpaas.im", "im", "IM", CHANNEL_READERS),
    RoomSlot("cpaas.voice", "voice", "Voice", CHANNEL_READERS),
    RoomSlot("webhooks", "webhooks", "Webhooks", CHANNEL_READERS),
    RoomSlot("billing", "billing", "Billing", roles_with(Perm.BILLING_READ)),
)

OWNER_ONLY = (Role.OWNER,)


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    active: bool


def room_is_served(room: RoomSlot) -> bool:
    try:
        resolve(room.path)
    except Resolver404:
        return False
    return True


def nav_items(*, role: str, path: str) -> list[NavItem]:
    """The links this role may follow, in display order; ``path`` marks the active one."""
    home = reverse("console:home")
    apps = roles_with(Perm.APPS_READ)
    candidates: list[tuple[str, str, tuple[str, ...]]] = [
        ("Overview", home, apps),
        ("Apps & API keys", reverse("console:apps"), apps),
    ]
    candidates += [(room.label, room.path, room.roles) for room in ROOMS if room_is_served(room)]
    candidates.append(("Team", reverse("console:team"), roles_with(Perm.TEAM_READ)))
    candidates.append(("Audit log", reverse("console:audit"), roles_with(Perm.AUDIT_READ)))
    candidates.append(("Settings", reverse("console:settings"), roles_with(Perm.SETTINGS_WRITE)))
    items = []
    for label, url, roles in candidates:
        if role not in roles:
            continue
        active = path == url if url == home else path.startswith(url)
        items.append(NavItem(label=label, url=url, active=active))
    return items
