"""SIP names and secrets: username rules, the app's SIP domain and realm, HA1, generated passwords."""

from __future__ import annotations

import hashlib
import re
import secrets
import string

from cpaas.core.errors import ApiError
from cpaas.sip_edge import conf

# Lowercase so `Alice` and `alice` can never be two phones; digits alone are fine (extensions).
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
PASSWORD_MIN, PASSWORD_MAX = 12, 128
GENERATED_LENGTH = 24  # ~143 bits over 62 symbols; letters and digits only, which every phone can type
_ALPHABET = string.ascii_letters + string.digits


def realm_for(app_id: str, mode: str) -> str:
    """The first label of the (app, mode)'s SIP domain: the app id's ULID in lowercase, ``-test``
    for test mode. A ULID never holds ``-``, so no live label can equal a test one."""
    label = app_id.partition("_")[2].lower()
    return f"{label}-test" if mode == "test" else label


def domain_for(realm: str) -> str:
    return f"{realm}.{conf.SIP_DOMAIN}"


def username_valid(value: object) -> str:
    """``value`` if it is a valid SIP username, else 400 ``invalid_sip_username`` naming ``username``."""
    if not isinstance(value, str) or not USERNAME.fullmatch(value):
        raise ApiError("`username` must be 1 to 32 characters: lowercase letters, digits, `.`, `_` or `-`, "
                       "starting with a letter or digit.", code="invalid_sip_username", param="username")
    return value


def password_valid(value: object) -> str:
    """``value`` if it is an acceptable password, else 400 ``weak_sip_password`` naming ``password``."""
    if not isinstance(value, str) or not (PASSWORD_MIN <= len(value) <= PASSWORD_MAX) \
            or any(not (33 <= ord(c) <= 126) for c in value):
        raise ApiError(f"`password` must be {PASSWORD_MIN} to {PASSWORD_MAX} printable ASCII characters without "
                       "spaces (or leave it out and one is generated).", code="weak_sip_password", param="password")
    return value


def password_generate() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(GENERATED_LENGTH))


def ha1(username: str, realm: str, password: str) -> str:
    """The digest HA1, what Kamailio checks a response against (RFC 2617: MD5, as phones speak it)."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()  # noqa: S324 (the protocol's hash)
