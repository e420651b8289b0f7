"""Twilio SIDs of our objects: two letters and the id's ULID in 32 hex digits, both ways.

No storage: a SID maps back to the id it was made from (decision 1220). ``AC`` is an app (the
Account SID), ``SM`` a message, ``CA`` a call, ``MG`` a sender pool (Twilio's messaging service).
"""

from __future__ import annotations

from cpaas.core.ids import account_sid as account_sid  # re-exported: the Account SID lives in core
from cpaas.core.ids import hex_sid, id_from_hex_sid

KINDS = {"AC": "app", "SM": "msg", "CA": "call", "MG": "pool", "RE": "rec"}


def sid(object_id: str) -> str:
    """The SID of one of our ids (``msg_…`` → ``SM…``)."""
    prefix = object_id.partition("_")[0]
    letters = next(two for two, ours in KINDS.items() if ours == prefix)
    return hex_sid(letters, object_id)


def object_id(value: str, letters: str) -> str | None:
    """The id behind a SID of kind ``letters``; None when ``value`` is not such a SID."""
    return id_from_hex_sid(value, letters, KINDS[letters])
