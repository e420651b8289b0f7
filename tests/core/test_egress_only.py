"""One egress: no module outside cpaas/core/egress opens an HTTP client or a socket of its own.

A tenant URL must only be reached through the guarded client, so every other way out of the
process is listed here by name, with the reason it never sees a tenant URL. A new client
anywhere else fails this test: route it through ``cpaas.core.egress`` or add it below, reasoned.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ["cpaas", "webhooks", "billing", "scripts"]
EGRESS = "cpaas/core/egress/"

# What opens a connection (or a client that will): httpx, requests, urllib, http.client, aiohttp,
# urllib3, pycurl, raw sockets and asyncio connections, and the SDKs of services we call (Stripe,
# SMPP).
OUTBOUND = re.compile(
    r"\bhttpx\.(Client|AsyncClient|get|post|put|patch|delete|request|stream|HTTPTransport|AsyncHTTPTransport)\b"
    r"|^\s*(import|from)\s+(requests|aiohttp|urllib3|pycurl|http\.client|urllib\.request|stripe|smpp34)\b"
    r"|\burlopen\(|\burllib\.request\b|\bhttp\.client\b"
    r"|\bsocket\.(create_connection|socket)\(|\.create_connection\(|\basyncio\.open_connection\("
    r"|\.sock_connect\(",
    re.MULTILINE,
)

# path -> why it never reaches a tenant-supplied URL.
ALLOWED = {
    "cpaas/carriers/http/connector.py": "the operator's HTTP carrier (Connector rows are platform-wide, "
                                        "set by the operator, not by a tenant)",
    "cpaas/carriers/smpp/connector.py": "the operator's SMPP carrier binds (operator-configured hosts)",
    "cpaas/core/management/commands/runplatform.py": "probes the local ports it is about to bind",
    "cpaas/sip_edge/process.py": "binds a local UDP socket to see whether Kamailio holds its SIP port (no connection)",
    "cpaas/rtc/janus.py": "the Janus media servers of the placement table (operator-registered hosts)",
    "cpaas/rtc/process.py": "waits for the local Janus it started to listen",
    "billing/stripe_sync.py": "Stripe's API (a fixed host of Stripe's SDK), never a tenant URL",
    "billing/api.py": "Stripe's SDK, to verify Stripe's own webhook signatures (no request)",
}


def _offenders() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for directory in SOURCE_DIRS:
        for path in sorted((ROOT / directory).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith(EGRESS) or "/migrations/" in relative:
                continue
            hits = [match.group(0).strip() for match in OUTBOUND.finditer(path.read_text())]
            if hits:
                found[relative] = hits
    return found


def test_no_module_outside_the_egress_opens_a_connection_of_its_own():
    offenders = {path: hits for path, hits in _offenders().items() if path not in ALLOWED}
    assert offenders == {}, (
        "Reach tenant URLs only through cpaas.core.egress (client, sync); an outbound connection "
        f"that never sees a tenant URL goes in ALLOWED with its reason: {offenders}")


def test_the_allow_list_names_only_files_that_still_need_it():
    assert set(ALLOWED) <= set(_offenders()), "drop entries that no longer open connections"


def test_the_pattern_catches_the_clients_that_used_to_bypass_the_guard():
    for line in ("client = httpx.Client(timeout=3)", "import requests", "from urllib.request import urlopen",
                 "async with httpx.AsyncClient() as http:", "await loop.create_connection(P, host, 80)"):
        assert OUTBOUND.search(line), line
