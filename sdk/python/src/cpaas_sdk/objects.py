"""What the API answers: JSON objects as dicts that also read as attributes (``message.status``)."""

from __future__ import annotations

from typing import Any


class ApiObject(dict[str, Any]):
    """A JSON object of the API. ``obj["id"]`` and ``obj.id`` are the same; a missing attribute
    raises ``AttributeError`` (use ``obj.get`` for optional fields)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *self.keys()]
