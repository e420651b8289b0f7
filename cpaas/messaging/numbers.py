"""Phone numbers: E.164 parsing with ``phonenumbers``, sender ids, the destination's country."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

from cpaas.core.errors import ApiError

_ALPHANUMERIC = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ._-]{1,11}$")


@dataclass(frozen=True)
class Parsed:
    e164: str
    country: str  # ISO 3166 alpha-2


def parse_number(value: str, *, param: str, country: str | None = None) -> Parsed:
    """``value`` as E.164, or ApiError ``invalid_phone_number`` naming ``param``.

    National formats are accepted with a ``country`` hint (``"07700 900123"`` + ``"GB"``).
    """
    if not isinstance(value, str) or not value.strip() or len(value) > 32 or \
            (country is not None and not isinstance(country, str)):
        raise ApiError(f"`{param}` must be a phone number in E.164 format.",
                       code="invalid_phone_number", param=param)
    parsed = _parse(value, (country or "").upper() or None)
    if parsed is None:
        raise ApiError(f"`{param}` is not a valid phone number: {value!r}.",
                       code="invalid_phone_number", param=param)
    return parsed


@lru_cache(maxsize=65536)
def _parse(value: str, country: str | None) -> Parsed | None:
    """Parsing and validating is ~100 µs; senders repeat numbers (OTPs, alerts), so keep answers."""
    try:
        number = phonenumbers.parse(value, country)
    except phonenumbers.NumberParseException:
        return None
    # is_valid_number() would look the region up again: do it once.
    region = phonenumbers.region_code_for_number(number)
    if not phonenumbers.is_valid_number_for_region(number, region):
        return None
    return Parsed(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), region or "")


def is_alphanumeric_sender(value: str) -> bool:
    """An alphanumeric sender id: 1 to 11 of letters, digits, space, dot, dash, with a letter."""
    return bool(_ALPHANUMERIC.match(value or ""))


def looks_like_number(value: str) -> bool:
    stripped = (value or "").replace(" ", "").replace("-", "").replace("(", "").replace(")", "")
    return stripped.startswith("+") or stripped.isdigit()
