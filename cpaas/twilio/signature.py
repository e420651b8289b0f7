"""Twilio's request signature, as ``twilio.request_validator.RequestValidator`` checks it.

``X-Twilio-Signature`` = base64(HMAC-SHA1(secret, url + every POST parameter's name and value,
sorted by name)). The secret is the app's voice signing secret of the mode (``whsec_…``, used
as the string it is): the one secret of the Twilio surface, for calls and messages alike, as
Twilio's auth token is (decision 1223).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl, urlencode

HEADER = "X-Twilio-Signature"


def compute(secret: str, url: str, params: dict[str, str] | list[tuple[str, str]]) -> str:
    pairs = list(params.items()) if isinstance(params, dict) else list(params)
    by_name: dict[str, set[str]] = {}
    for name, value in pairs:
        by_name.setdefault(name, set()).add(value)
    text = url + "".join(name + value for name in sorted(by_name) for value in sorted(by_name[name]))
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def form_body(params: dict[str, str]) -> str:
    return urlencode(params)


def form_params(body: str) -> list[tuple[str, str]]:
    return parse_qsl(body, keep_blank_values=True)


def headers(secret: str, url: str, body: str, *, idempotency_token: str | None = None) -> dict[str, str]:
    """The headers of a signed form POST of ``body`` to ``url``."""
    out = {"content-type": "application/x-www-form-urlencoded; charset=utf-8",
           "user-agent": "cpaas-twilio/1", "accept-encoding": "identity",
           HEADER.lower(): compute(secret, url, form_params(body))}
    if idempotency_token:
        out["i-twilio-idempotency-token"] = idempotency_token
    return out
