"""Phone numbers: E.164 validation and the caller-id ownership check."""

from __future__ import annotations

import importlib

import phonenumbers

from cpaas.core.errors import ApiError

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


def _number_model():
    """The messaging room's Number model, if it exists in this build (looked up at call time)."""
    try:
        module = importlib.import_module("cpaas.messaging.models")
    except ImportError:
        return None
    return getattr(module, "Number", None)


def caller_id_owned(app_id: str, number: str, *, is_test: bool = False) -> bool:
    """Whether ``app_id`` may show ``number`` as its caller id.

    A number registered to the app in the messaging room's Number model counts (looked up by
    whichever E.164 column that model has); test keys also own the sandbox caller-id range.
    """
    if is_test and is_sandbox_caller_id(number):
        return True
    model = _number_model()
    if model is None:
        return False
    field_names = {f.name for f in model._meta.get_fields()}
    column = next((name for name in ("phone_number", "number", "e164") if name in field_names), None)
    if column is None or "app" not in field_names:
        return False
    return model.objects.filter(app_id=app_id, **{column: number}).exists()
