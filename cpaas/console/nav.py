"""The console's navigation: the foundation's pages and one slot per room.

A room appears in the nav only once its ``<room>/console_urls.py`` exists and serves a landing
page at ``/console/<prefix>/`` (see docs/console.md). ``roles`` mirrors what the room's pages
allow with ``console_view(roles=...)``: the nav only hides links, the decorator enforces.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import Resolver404, resolve, reverse

from cpaas.console.access import BILLING_ROLES, TECH_ROLES
from cpaas.tenants.models import Role


@dataclass(frozen=True)
class RoomSlot:
    module: str
    prefix: str
    label: str
    roles: tuple[str, ...]

    @property
    def path(self) -> str:
        return f"/console/{self.prefix}/"


ROOMS = (
    RoomSlot("cpaas.messaging", "sms", "SMS", TECH_ROLES),
    RoomSlot("cpaas.im", "im", "IM", TECH_ROLES),
    RoomSlot("cpaas.voice", "voice", "Voice", TECH_ROLES),
    RoomSlot("webhooks", "webhooks", "Webhooks", TECH_ROLES),
    RoomSlot("billing", "billing", "Billing", BILLING_ROLES),
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
    candidates: list[tuple[str, str, tuple[str, ...]]] = [
        ("Overview", home, (Role.OWNER, Role.DEVELOPER)),
        ("Apps & API keys", reverse("console:apps"), TECH_ROLES),
    ]
    candidates += [(room.label, room.path, room.roles) for room in ROOMS if room_is_served(room)]
    candidates.append(("Audit log", reverse("console:audit"), OWNER_ONLY))
    candidates.append(("Settings", reverse("console:settings"), OWNER_ONLY))
    items = []
    for label, url, roles in candidates:
        if role not in roles:
            continue
        active = path == url if url == home else path.startswith(url)
        items.append(NavItem(label=label, url=url, active=active))
    return items
