"""Two-factor sign-in for console users: TOTP devices, recovery codes, and the per-tenant rule.

A user's second factor belongs to the user, not to a tenant: one authenticator app serves every
tenant they are a member of. A tenant may *require* it (``Tenant.require_two_factor``); then its
members without a device are sent to enrol before any other console page (``access.console_view``).
Devices are django-otp devices of our own (``cpaas.console.models``): one ``AuthenticatorDevice`` (the
app, its seed sealed by the keyring) and one ``RecoveryCodeDevice`` holding single-use recovery codes,
stored hashed (decision 0880). Every change is written to the audit log of each tenant the user belongs to, so
each tenant's owner sees it (decision 0851).
"""

from __future__ import annotations

import base64
import time
from binascii import unhexlify
from dataclasses import dataclass

import qrcode
import qrcode.image.svg
from django.core import signing
from django.db import transaction
from django_otp import devices_for_user
from django_otp.models import Device
from django_otp.oath import TOTP

from cpaas.console.models import (
    AuthenticatorDevice,
    RecoveryCode,
    RecoveryCodeDevice,
    recovery_code_hash,
    recovery_code_new,
    seed_new,
)
from cpaas.core import crypto
from cpaas.tenants.audit import audit_record
from cpaas.tenants.models import Membership, Tenant

RECOVERY_CODE_COUNT = 10
ENROL_SECONDS = 30 * 60  # how long a key shown on the enrol page can still be confirmed
_ENROL_SALT = "cpaas.console.totp-enrol"
TOTP_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"


@dataclass(frozen=True)
class Enrolment:
    """What the enrol page shows: the QR code, the same secret for typing in, and the signed form value."""

    secret: str  # base32, as authenticator apps take it
    qr_svg: str  # an inline <svg> element
    signed_key: str  # the key, signed for this user: the confirming POST brings it back


def has_two_factor(user) -> bool:
    """One query: the recovery codes come and go with the app, so the app's device is the factor."""
    return AuthenticatorDevice.objects.filter(user=user, confirmed=True).exists()


def enrolment_start(user, signed_key: str | None = None) -> Enrolment:
    """A new TOTP key for the enrol page, or the one a failed confirmation brought back.

    Nothing is stored until the user confirms with a code: the key travels in the form, signed for
    this user, so a GET of the page writes nothing (and abandoned set-ups leave no rows).
    """
    key = _key_from(user, signed_key) if signed_key else None
    key = key or seed_new()
    device = AuthenticatorDevice(user=user, name=TOTP_NAME, key=key)  # never saved: it only formats the URI
    secret = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    signed = signing.dumps({"user": user.pk, "key": key}, salt=_ENROL_SALT)
    return Enrolment(secret=secret, qr_svg=qr_svg(device.config_url), signed_key=signed)


def _key_from(user, signed_key: str) -> str | None:
    try:
        data = signing.loads(signed_key, salt=_ENROL_SALT, max_age=ENROL_SECONDS)
    except signing.BadSignature:
        return None
    return data.get("key") if data.get("user") == user.pk else None


def qr_svg(text: str) -> str:
    """An SVG QR code as markup: one <path>, no style attribute, so it renders under the CSP."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    return image.to_string(encoding="unicode")


@dataclass(frozen=True)
class Enrolled:
    device: AuthenticatorDevice
    recovery_codes: list[str]  # shown once, never again: only their hashes are stored


def enrolment_confirm(*, user, signed_key: str, token: str, ip: str | None) -> Enrolled | None:
    """Turn two-factor on with the key from the enrol page and a code the app made from it.

    None if the key is not this user's (or older than ``ENROL_SECONDS``) or the code is wrong. Any
    earlier devices of the user are replaced: a user has one app and one set of codes.
    """
    key = _key_from(user, signed_key)
    token = _clean(token)
    if key is None or not (token.isdigit() and len(token) == 6):
        return None
    totp = TOTP(unhexlify(key), step=30, t0=0, digits=6, drift=0)
    totp.time = time.time()
    if not totp.verify(int(token), tolerance=1):
        return None
    with transaction.atomic():
        for device in devices_for_user(user, confirmed=None):
            device.delete()
        # last_t: the code just used cannot sign in again (django-otp refuses t <= last_t).
        device = AuthenticatorDevice.objects.create(user=user, name=TOTP_NAME, key=key, confirmed=True,
                                           last_t=totp.t(), drift=totp.drift)
        codes = _recovery_codes_create(user)
        _audit_everywhere(user, "console.two_factor_enabled", ip, {"device": TOTP_NAME})
    return Enrolled(device=device, recovery_codes=codes)


def _recovery_codes_create(user) -> list[str]:
    """New codes, shown as four groups of four ("abcd-efgh-ijkl-mnop"; dashes are ignored when typed)."""
    device = RecoveryCodeDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [recovery_code_new() for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.bulk_create([RecoveryCode(device=device, code_hash=recovery_code_hash(code))
                                      for code in codes])
    return ["-".join(code[i:i + 4] for i in range(0, len(code), 4)) for code in codes]


def code_verify(user, token: str) -> Device | None:
    """The device that accepts ``token`` (a TOTP code or an unused recovery code), else None.

    django-otp throttles each device after failures and refuses a TOTP code already used, and a
    recovery code is deleted when it is used, so it works once.
    """
    token = _clean(token)
    if not token or len(token) > 16:
        return None
    # A six-digit code is for the app, anything else a recovery code: trying only the device the
    # code is meant for keeps a recovery code from counting as a failed TOTP try (and throttling it).
    model = AuthenticatorDevice if token.isdigit() and len(token) == 6 else RecoveryCodeDevice
    with transaction.atomic():
        for device in model.objects.devices_for_user(user, confirmed=True).select_for_update():
            if device.verify_token(token):
                return device
    return None


def recovery_codes_left(user) -> int:
    return RecoveryCode.objects.filter(device__user=user, device__confirmed=True).count()


def seeds_reseal() -> int:
    """Re-encrypt every authenticator seed with the keyring's newest key (``secrets_reencrypt``)."""
    return crypto.reseal_column(AuthenticatorDevice.objects.all(), "key_sealed", crypto.reencrypt)


def two_factor_disable(*, user, token: str, ip: str | None) -> bool:
    """Remove the user's devices, given a valid code. False if the code is wrong."""
    with transaction.atomic():
        if code_verify(user, token) is None:
            return False
        for device in devices_for_user(user, confirmed=None):
            device.delete()
        _audit_everywhere(user, "console.two_factor_disabled", ip)
    return True


def tenant_two_factor_set(*, tenant: Tenant, required: bool, actor_user_id: int, ip: str | None) -> Tenant:
    """Turn the tenant's "every member signs in with a second factor" rule on or off (owner only)."""
    with transaction.atomic():
        changed = Tenant.objects.filter(pk=tenant.pk).exclude(require_two_factor=required).update(
            require_two_factor=required
        )
        tenant.require_two_factor = required
        if changed:
            audit_record(tenant_id=tenant.id, action="tenant.two_factor_required", actor_user_id=actor_user_id,
                         target_type="tenant", target_id=tenant.id, ip=ip, metadata={"required": required})
    return tenant


def _audit_everywhere(user, action: str, ip: str | None, metadata: dict | None = None) -> None:
    for tenant_id in Membership.objects.filter(user=user).values_list("tenant_id", flat=True):
        audit_record(tenant_id=tenant_id, action=action, actor_user_id=user.pk, target_type="user",
                     target_id=str(user.pk), ip=ip, metadata=metadata)


def _clean(token: str) -> str:
    """Codes are typed with spaces or dashes ("123 456"); recovery codes are lower case."""
    return "".join(ch for ch in (token or "") if ch.isalnum()).lower()
