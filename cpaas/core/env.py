"""The one reader of environment variables: every setting of every room is read through ``env``.

Each variable is documented in docs/configuration.md (a test checks both ways). A value that does
not parse stops the process at start with an error naming the variable, instead of a bare
``ValueError`` from deep inside a conf module. ``old`` names a variable's earlier name, read when
the new one is not set.

An empty value counts as unset for numbers and booleans (``X=`` means "the default"); for strings
and lists it is a value (``EGRESS_ALLOWED_CIDRS=`` means "allow nothing").
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})


class Env:
    """Typed readers of ``os.environ``; the module's ``env`` is the one instance."""

    def raw(self, name: str, *, old: str | tuple[str, ...] = ()) -> str | None:
        """The value of ``name``, else of the first of its ``old`` names that is set, else None."""
        for candidate in (name, *((old,) if isinstance(old, str) else old)):
            value = os.environ.get(candidate)
            if value is not None:
                return value
        return None

    def str(self, name: str, default: str = "", *, old: str | tuple[str, ...] = ()) -> str:
        value = self.raw(name, old=old)
        return default if value is None else value

    def int(self, name: str, default: int, *, old: str | tuple[str, ...] = ()) -> int:
        return self._parse(name, default, old, int, "an integer")

    def float(self, name: str, default: float, *, old: str | tuple[str, ...] = ()) -> float:
        return self._parse(name, default, old, float, "a number")

    def bool(self, name: str, default: bool, *, old: str | tuple[str, ...] = ()) -> bool:
        return self._parse(name, default, old, _boolean, "one of 1/0, true/false, yes/no, on/off")

    def list(self, name: str, default: str = "", *, old: str | tuple[str, ...] = ()) -> list[str]:
        """Comma-separated items, stripped, empty ones dropped."""
        return [item.strip() for item in self.str(name, default, old=old).split(",") if item.strip()]

    def json(self, name: str, default: str, *, old: str | tuple[str, ...] = ()) -> Any:
        return self._parse(name, json.loads(default), old, json.loads, "JSON")

    def url(self, name: str, default: str = "", *, old: str | tuple[str, ...] = ()) -> str:
        """A URL with a scheme (``postgres://…``, ``redis://…``, ``https://…``), or ``default`` when unset."""
        value = self.str(name, default, old=old)
        if value and not urlsplit(value).scheme:
            raise ImproperlyConfigured(f"{name}={value!r} is not a URL (it has no scheme, like https://)")
        return value

    def _parse(self, name: str, default: T, old: str | tuple[str, ...], parse: Callable[[str], T],
               what: str) -> T:
        value = self.raw(name, old=old)
        if value is None or value.strip() == "":
            return default
        try:
            return parse(value.strip())
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r} is not {what}") from None


def _boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise ValueError(value)


env = Env()
