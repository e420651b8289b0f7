"""The event catalog: every room's ``<app>/events.py`` ``EVENT_TYPES``, discovered, never imported by name.

The webhooks room must not import channels (design.md §2), so the catalog asks each installed
app for an ``events`` submodule instead.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import import_module
from typing import Any

from django.apps import apps
from django.utils.module_loading import module_has_submodule


@lru_cache(maxsize=1)
def _catalog() -> dict[str, dict[str, Any]]:
    types: dict[str, dict[str, Any]] = {}
    for config in apps.get_app_configs():
        if not module_has_submodule(config.module, "events"):
            continue
        module = import_module(f"{config.name}.events")
        for entry in getattr(module, "EVENT_TYPES", []):
            item = {
                "type": entry["type"],
                "version": int(entry.get("version", 1)),
                "description": entry.get("description", ""),
                "schema": entry.get("schema", {"type": "object"}),
                "source": config.label,
            }
            types[item["type"]] = item
    return dict(sorted(types.items()))


def event_types() -> list[dict[str, Any]]:
    return list(_catalog().values())


def is_known(type_: str) -> bool:
    return type_ in _catalog()


def reset() -> None:
    """Forget the discovered catalog (tests that add a room's events call this)."""
    _catalog.cache_clear()
