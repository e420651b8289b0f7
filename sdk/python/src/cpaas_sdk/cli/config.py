"""Profiles: a key and a base URL per name, in one JSON file only its owner can read (0600).

Where: ``$CPAAS_CONFIG``, else ``$XDG_CONFIG_HOME/cpaas/config.json``, else
``~/.config/cpaas/config.json``. Which key a command uses, first found: ``--api-key``,
``$CPAAS_API_KEY``, the profile (``--profile``, ``$CPAAS_PROFILE``, else ``default``), the demo key
``make run`` wrote (``$CPAAS_VAR_DIR/demo_key``, default ``var/demo_key``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_API_BASE = "http://localhost:8000"
DEFAULT_PROFILE = "default"


def config_path() -> Path:
    if os.environ.get("CPAAS_CONFIG"):
        return Path(os.environ["CPAAS_CONFIG"])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "cpaas" / "config.json"


def load() -> dict:
    try:
        return json.loads(config_path().read_text())
    except (OSError, ValueError):
        return {}


def save_profile(name: str, *, api_key: str, api_base: str) -> Path:
    """Write the profile; the file is created 0600 (and made 0600 if it existed), its folder 0700."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = load()
    config.setdefault("profiles", {})[name] = {"api_key": api_key, "api_base": api_base}
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(config, handle, indent=2)
    return path


@dataclass(frozen=True)
class Credentials:
    api_key: str | None
    api_base: str
    source: str


def demo_key() -> str | None:
    path = Path(os.environ.get("CPAAS_VAR_DIR") or "var") / "demo_key"
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def resolve(*, api_key: str | None, api_base: str | None, profile: str | None) -> Credentials:
    name = profile or os.environ.get("CPAAS_PROFILE") or DEFAULT_PROFILE
    stored = load().get("profiles", {}).get(name, {})
    base = api_base or os.environ.get("CPAAS_API_BASE") or stored.get("api_base") or DEFAULT_API_BASE
    if api_key:
        return Credentials(api_key, base, "--api-key")
    if os.environ.get("CPAAS_API_KEY"):
        return Credentials(os.environ["CPAAS_API_KEY"], base, "CPAAS_API_KEY")
    if stored.get("api_key"):
        return Credentials(stored["api_key"], base, f"profile {name}")
    return Credentials(demo_key(), base, "var/demo_key")
