"""HTTP Basic for the Twilio-compatible API: username the Account SID, password an API key.

The password goes through the same path as a Bearer key (``key_authenticate``: the failed-auth
throttle, the rate limits, revocation), so the key keeps its scopes and mode. The Account SID must
be the key's own app's, both as the username and in the URL: anything else is the same 401
(Twilio's 20003) as a wrong key, and counts as a failed attempt (decision 1221).
"""

from __future__ import annotations

import base64
import binascii

from rest_framework.authentication import BaseAuthentication

from cpaas.core.auth import authentication_failed, key_authenticate
from cpaas.core.errors import AuthenticationFailed
from cpaas.twilio.sids import account_sid

REALM = 'Basic realm="Twilio API"'


def _credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep and username and password else None


class AccountSidBasicAuthentication(BaseAuthentication):
    def authenticate(self, request):
        credentials = _credentials(request.META.get("HTTP_AUTHORIZATION", ""))
        if credentials is None:
            raise AuthenticationFailed("Authenticate with HTTP Basic: your Account SID and an API key.")
        username, password = credentials
        principal = key_authenticate(request, password)
        own = account_sid(principal.app_id)
        in_path = (request.parser_context or {}).get("kwargs", {}).get("account_sid", own)
        if username != own or in_path != own:
            authentication_failed(request)
        return principal, principal

    def authenticate_header(self, request) -> str:
        return REALM
