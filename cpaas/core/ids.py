"""Public object ids: a type prefix and a ULID body (``msg_01JD…``), sortable by creation time."""

from __future__ import annotations

import base64
import os
import time

from django.db import models
from django.utils.deconstruct import deconstructible
from ulid import ULID

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_B32_TO_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _CROCKFORD)


def new_id(prefix: str) -> str:
    return f"{prefix}_{ULID()}"


def new_ids(prefix: str, count: int) -> list[str]:
    """``count`` ids for one batch: one timestamp, a random start, then +1 each (the ULID spec's
    monotonic mode), several times cheaper than :func:`new_id` per row (the usage ledger, the
    callback outbox). The 80-bit random part is exactly 16 base32 characters, so the stdlib
    encoder does it."""
    millis = int(time.time() * 1000)
    head = "".join(_CROCKFORD[(millis >> shift) & 31] for shift in range(45, -1, -5))
    start = int.from_bytes(os.urandom(10), "big") & ~((1 << 32) - 1)  # room to count up
    lead = f"{prefix}_{head}"
    table = _B32_TO_CROCKFORD
    b32 = base64.b32encode
    return [lead + b32((start + n).to_bytes(10, "big")).decode().translate(table) for n in range(count)]


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


def hex_sid(sid_prefix: str, object_id: str) -> str:
    """A Twilio-style SID for one of our ids: two letters and the ULID's 128 bits in 32 hex digits
    (``app_01J…`` → ``AC01a2…``). Reversible, so it needs no storage (decision 1220)."""
    return sid_prefix + ULID.from_str(object_id.partition("_")[2]).hex


def account_sid(app_id: str) -> str:
    """An app's Account SID on the Twilio-compatible API: the one spelling of it (API, console, twilio)."""
    return hex_sid("AC", app_id)


def id_from_hex_sid(sid: str, sid_prefix: str, id_prefix: str) -> str | None:
    """The id a :func:`hex_sid` stands for, or None when ``sid`` is not one of that kind."""
    body = sid[len(sid_prefix):]
    if not sid.startswith(sid_prefix) or len(body) != 32:
        return None
    try:
        return f"{id_prefix}_{ULID.from_hex(body.lower())}"
    except ValueError:
        return None
