"""Phone numbers: E.164 parsing with ``phonenumbers``, sender ids, the destination's country."""

from __future__ import annotations

import re
from dataclasses import dataclass

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
    if not isinstance(value, str) or not value.strip() or len(value) > 32:
        raise ApiError(f"`{param}` must be a phone number in E.164 format.",
                       code="invalid_phone_number", param=param)
    try:
        number = phonenumbers.parse(value, (country or "").upper() or None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ApiError(f"`{param}` is not a valid phone number: {value!r}.",
                       code="invalid_phone_number", param=param)
    region = phonenumbers.region_code_for_number(number) or ""
    return Parsed(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), region)


def is_alphanumeric_sender(value: str) -> bool:
    """An alphanumeric sender id: 1 to 11 of letters, digits, space, dot, dash, with a letter."""
    return bool(_ALPHANUMERIC.match(value or ""))


def looks_like_number(value: str) -> bool:
    stripped = (value or "").replace(" ", "").replace("-", "").replace("(", "").replace(")", "")
    return stripped.startswith("+") or stripped.isdigit()
