"""Carrier credentials at rest: split out of a connector's configuration and encrypted.

A connector's ``config`` holds what is safe to read (host, port, URL, templates); the fields named
in ``SECRET_FIELDS`` are moved into one keyring token (:mod:`cpaas.core.crypto`) that only the
connector itself opens, when it binds or first calls the carrier (decision 0848).
"""

from __future__ import annotations

import json
from typing import Any

from cpaas.core import crypto

# SMPP ``password``; an HTTP upstream's ``headers`` (they carry its API key) and the
# ``callback_token`` it proves itself with; the usual names other connectors may use.
SECRET_FIELDS = frozenset({"password", "headers", "callback_token", "api_key", "auth_token", "secret", "token"})


def seal(config: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """(the configuration without its secrets, the secrets as one keyring token or "")."""
    plain = {name: value for name, value in config.items() if name not in SECRET_FIELDS}
    secret = {name: value for name, value in config.items() if name in SECRET_FIELDS}
    return plain, (crypto.encrypt(json.dumps(secret, sort_keys=True)) if secret else "")


def unseal(token: str) -> dict[str, Any]:
    return json.loads(crypto.decrypt(token)) if token else {}
