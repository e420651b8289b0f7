"""RTC tokens: what a client presents to join a room, signed by the platform (decision 1502).

A token names the room, its app and mode, the identity, the privileges and an expiry; it is
Django-signed with SECRET_KEY (HMAC-SHA256) under its own salt, so any change to it breaks the
signature, and it is checked by the platform's signalling endpoint, never by the media server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core import signing

from cpaas.core.errors import ApiError

SALT = "cpaas.rtc.token.v1"
PRIVILEGES = ("publish_audio", "publish_video", "subscribe", "publish_data")


@dataclass(frozen=True)
class Grant:
    room_id: str
    app_id: str
    mode: str
    identity: str
    privileges: tuple[str, ...]
    expires_at: int  # unix seconds
    token_id: str = ""  # rtctok_…: what revocation names


def token_sign(grant: Grant) -> str:
    return "rtct_" + signing.dumps({"r": grant.room_id, "a": grant.app_id, "m": grant.mode, "i": grant.identity,
                                    "p": list(grant.privileges), "x": grant.expires_at,
                                    "j": grant.token_id}, salt=SALT, compress=True)


def token_verify(token: str, *, now: float | None = None) -> Grant:
    """The grant in ``token``; 401 ``rtc_token_invalid`` (tampered, not ours) or ``rtc_token_expired``."""
    if not isinstance(token, str) or not token.startswith("rtct_"):
        raise ApiError("This is not an RTC token.", code="rtc_token_invalid", param="token")
    try:
        data = signing.loads(token[5:], salt=SALT)
        grant = Grant(data["r"], data["a"], data["m"], data["i"], tuple(data["p"]), int(data["x"]), data["j"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise ApiError("The RTC token's signature does not verify.", code="rtc_token_invalid",
                       param="token") from None
    if grant.expires_at <= (time.time() if now is None else now):
        raise ApiError("The RTC token has expired.", code="rtc_token_expired", param="token")
    return grant
