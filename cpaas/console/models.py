"""Console users' second factors, as django-otp devices whose secrets a database dump does not reveal.

django-otp's own ``TOTPDevice`` keeps the seed in plain hex and ``StaticToken`` the recovery codes
in plain text; these two devices keep the same behaviour (RFC 6238 through ``django_otp.oath``,
throttling, one use per code) with the seed sealed by the platform keyring (``cpaas.core.crypto``,
re-encrypted by ``manage.py secrets_reencrypt``) and the recovery codes as SHA-256 hashes: they are
only ever compared, never shown again (decision 0880). Being ``Device`` subclasses of an installed
app, django-otp finds them (``devices_for_user``, ``match_token``, ``OTPMiddleware``).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from base64 import b32encode
from binascii import unhexlify
from os import urandom
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db import models, transaction
from django_otp.models import Device, ThrottlingMixin, TimestampMixin
from django_otp.oath import TOTP
from django_otp.util import random_hex

from cpaas.core import crypto

SEED_BYTES = 20  # RFC 4226's recommended length for HMAC-SHA1
RECOVERY_CODE_BYTES = 10  # 80 bits, 16 base32 characters: too many to try offline against a plain hash


def seed_new() -> str:
    """A new TOTP seed, hex-encoded (what ``AuthenticatorDevice.key`` takes)."""
    return random_hex(SEED_BYTES)


class AuthenticatorDevice(TimestampMixin, ThrottlingMixin, Device):
    """An authenticator app: TOTP codes (30 s steps, 6 digits) from a seed stored as a keyring token.

    ``key`` reads and writes the seed in hex, as django-otp's ``TOTPDevice.key`` does; only the
    sealed token ``key_sealed`` is a column.
    """

    key_sealed = models.TextField(help_text="The hex seed, encrypted with the platform keyring.")
    step = models.PositiveSmallIntegerField(default=30)
    t0 = models.BigIntegerField(default=0)
    digits = models.PositiveSmallIntegerField(default=6)
    tolerance = models.PositiveSmallIntegerField(default=1)
    drift = models.SmallIntegerField(default=0)
    last_t = models.BigIntegerField(default=-1, help_text="The time step of the last code accepted: "
                                                           "a code must come from a later step.")

    class Meta(Device.Meta):
        verbose_name = "authenticator app"

    @property
    def key(self) -> str:
        return crypto.decrypt(self.key_sealed)

    @key.setter
    def key(self, value: str) -> None:
        unhexlify(value)  # a seed that is not hex fails here, not at the first sign-in
        self.key_sealed = crypto.encrypt(value)

    @property
    def bin_key(self) -> bytes:
        return unhexlify(self.key)

    def verify_token(self, token) -> bool:
        """django-otp's TOTP check: throttled after failures, each time step accepted once."""
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        try:
            code = int(token)
        except (TypeError, ValueError):
            code = None
        totp = TOTP(self.bin_key, self.step, self.t0, self.digits, self.drift)
        totp.time = time.time()
        if code is not None and totp.verify(code, self.tolerance, self.last_t + 1):
            self.last_t = totp.t()
            self.drift = totp.drift
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save()
            return True
        self.throttle_increment(commit=True)
        return False

    def get_throttle_factor(self) -> int:
        return getattr(settings, "OTP_TOTP_THROTTLE_FACTOR", 1)

    @property
    def config_url(self) -> str:
        """The otpauth:// URI an authenticator app takes from the QR code (Key Uri Format)."""
        label = self.user.get_username()
        params = urlencode({"secret": b32encode(self.bin_key), "algorithm": "SHA1", "digits": self.digits,
                            "period": self.step})
        issuer = (getattr(settings, "OTP_TOTP_ISSUER", "") or "").replace(":", "")
        if issuer:
            label = f"{issuer}:{label}"
            params += f"&issuer={quote(issuer)}"
        return f"otpauth://totp/{quote(label)}?{params}"


def recovery_code_hash(code: str) -> str:
    """The stored form of a recovery code. Codes carry 80 random bits, so an unsalted SHA-256 is
    enough (as for API keys): the work of finding a code from its hash is 2**80."""
    return hashlib.sha256(code.encode()).hexdigest()


def recovery_code_new() -> str:
    return b32encode(urandom(RECOVERY_CODE_BYTES)).decode("ascii").lower()


class RecoveryCodeDevice(TimestampMixin, ThrottlingMixin, Device):
    """A user's single-use recovery codes (django-otp's ``StaticDevice``, with hashed codes)."""

    class Meta(Device.Meta):
        verbose_name = "recovery codes"

    def get_throttle_factor(self) -> int:
        return getattr(settings, "OTP_STATIC_THROTTLE_FACTOR", 1)

    def verify_token(self, token) -> bool:
        """True once per code: the matching code is deleted. Every stored hash is compared in constant
        time, so neither the answer's timing nor the query says which code was close."""
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        given = recovery_code_hash(str(token))
        match = None
        for code in self.codes.all():
            if hmac.compare_digest(code.code_hash, given):
                match = code
        if match is None:
            self.throttle_increment(commit=True)
            return False
        with transaction.atomic():
            match.delete()
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save()
        return True


class RecoveryCode(models.Model):
    device = models.ForeignKey(RecoveryCodeDevice, related_name="codes", on_delete=models.CASCADE)
    code_hash = models.CharField(max_length=64)
