"""Public object ids: a type prefix and a ULID body (``msg_01JD…``), sortable by creation time."""

from __future__ import annotations

from django.db import models
from django.utils.deconstruct import deconstructible
from ulid import ULID


def new_id(prefix: str) -> str:
    return f"{prefix}_{ULID()}"


@deconstructible
class PrefixedId:
    """Callable default for an id column; deconstructible so migrations can name it."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self) -> str:
        return new_id(self.prefix)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrefixedId) and other.prefix == self.prefix

    def __hash__(self) -> int:
        return hash(self.prefix)


def id_field(prefix: str) -> models.CharField:
    """A primary key column holding ``<prefix>_<ULID>``; ordering by it is ordering by time."""
    return models.CharField(
        primary_key=True, max_length=40, default=PrefixedId(prefix), editable=False
    )


def looks_like(value: str, prefix: str) -> bool:
    head, sep, body = value.partition("_")
    return bool(sep) and head == prefix and len(body) == 26 and body.isalnum()
