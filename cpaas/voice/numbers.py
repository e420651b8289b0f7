"""Phone numbers: E.164 validation and the caller-id ownership check."""

from __future__ import annotations

import phonenumbers

from cpaas.core.errors import ApiError
from cpaas.messaging.selectors import number_owned

# Caller ids every test key owns on the sandbox network (docs/voice.md, "Sandbox numbers").
SANDBOX_CALLER_ID_PREFIX = "+15005559"


def normalize_e164(value: object, *, param: str) -> str:
    """``value`` as an E.164 string, or 400 ``invalid_phone_number`` naming ``param``."""
    if not isinstance(value, str) or not value.startswith("+") or len(value) > 16:
        raise ApiError(f"`{param}` must be a phone number in E.164 format, like +14155550123.",
                       code="invalid_phone_number", param=param)
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ApiError(f"`{param}` is not a valid phone number.", code="invalid_phone_number", param=param)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def country_of(e164: str) -> str:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None)) or ""
    except phonenumbers.NumberParseException:
        return ""


def is_sandbox_caller_id(number: str) -> bool:
    return number.startswith(SANDBOX_CALLER_ID_PREFIX) and len(number) == 12


def caller_id_owned(app_id: str, number: str, *, is_test: bool = False) -> bool:
    """Whether ``app_id`` may show ``number`` as its caller id: a number of the app's inventory with
    the ``voice`` capability (docs/decisions/0005-number-inventory.md); test keys also own the
    sandbox caller-id range."""
    if is_test and is_sandbox_caller_id(number):
        return True
    return number_owned(app_id=app_id, mode="test" if is_test else "live", number=number, capability="voice")
