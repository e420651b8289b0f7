"""How the platform's user agents prove to the SIP edge that an INVITE is theirs (decision 1140).

Outbound calls leave from Celery voice workers on ephemeral ports, so the edge cannot trust them by
address:port. Each INVITE the platform sends to the edge carries ``X-Cpaas-Trust``, a keyed SHA-256
of its Call-ID; the edge recomputes it (Kamailio's ``{s.sha256}`` transformation: it has no HMAC),
accepts it only from ``SIP_TRUSTED_NETWORKS``, and strips it before relaying. The key is derived
from ``SECRET_KEY``, which the edge and every worker already share.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Cpaas-Trust"


def trust_secret_from(secret_key: str) -> str:
    """The shared key (hex, so it can sit in kamailio.cfg as a plain string)."""
    return hmac.new(secret_key.encode(), b"cpaas sip edge trust", hashlib.sha256).hexdigest()[:32]


def trust_token(secret: str, call_id: str) -> str:
    """sha256(secret:call-id:secret), hex: the key on both sides of the message, so the hash cannot be
    extended to another Call-ID without the key (what Kamailio can compute without an HMAC module)."""
    return hashlib.sha256(f"{secret}:{call_id}:{secret}".encode()).hexdigest()
