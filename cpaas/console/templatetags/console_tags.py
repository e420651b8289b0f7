"""Small formatting helpers for console templates."""

from __future__ import annotations

from django import template

from cpaas.core import ids

register = template.Library()


@register.filter
def account_sid(app_id: str) -> str:
    """The app's Account SID on the Twilio-compatible API (docs/twilio-compatibility.md)."""
    return ids.account_sid(app_id)


@register.filter
def audit_value(value) -> str:
    """An audit metadata value as people read it: lists joined, an empty product list is “all”."""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) if value else "all"
    if value in (None, ""):
        return "—"
    return str(value)
