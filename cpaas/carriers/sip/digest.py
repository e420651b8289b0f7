"""Digest authentication (RFC 2617/8760, MD5 and SHA-256) for requests to a trunk that challenges."""

from __future__ import annotations

import hashlib
import re
import secrets


def parse_challenge(header: str) -> dict[str, str]:
    """``Digest realm="x", nonce="y", qop="auth"`` → {"realm": "x", …}."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return {}
    return {key.lower(): value.strip('"') for key, value in
            re.findall(r'(\w+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]+)', rest)}


def authorization(challenge: dict[str, str], *, method: str, uri: str, username: str, password: str) -> str:
    """The ``Authorization`` / ``Proxy-Authorization`` value answering ``challenge``."""
    algorithm = challenge.get("algorithm", "MD5")
    digest = hashlib.sha256 if algorithm.upper().startswith("SHA-256") else hashlib.md5

    def h(text: str) -> str:
        return digest(text.encode()).hexdigest()

    realm, nonce = challenge.get("realm", ""), challenge.get("nonce", "")
    ha1, ha2 = h(f"{username}:{realm}:{password}"), h(f"{method}:{uri}")
    fields = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"',
              f"algorithm={algorithm}"]
    qops = [q.strip() for q in challenge.get("qop", "").split(",") if q.strip()]
    if "auth" in qops:
        cnonce, nc = secrets.token_hex(8), "00000001"
        fields += [f'response="{h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")}"', "qop=auth",
                   f'cnonce="{cnonce}"', f"nc={nc}"]
    else:
        fields.append(f'response="{h(f"{ha1}:{nonce}:{ha2}")}"')
    if "opaque" in challenge:
        fields.append(f'opaque="{challenge["opaque"]}"')
    return "Digest " + ", ".join(fields)
