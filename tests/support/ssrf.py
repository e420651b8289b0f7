"""The SSRF corpus every egress caller is tested against, on loopback only.

Two lists:
- ``REFUSED_URLS``: URLs the guard refuses, in every spelling (decimal, octal, hex, short, IPv4-
  mapped, NAT64, ULA, link-local/metadata, unspecified, names resolving to private ranges). Used
  where nothing connects (save-time validation, the guard's own check).
- :func:`loopback_urls`: the spellings that would reach a loopback receiver on this machine if the
  guard let them through. Callers are driven at these with a real receiver listening, so a broken
  guard shows as a request received, never as traffic to a real private network.

Names are answered by the ``resolver`` fixture (tests/conftest.py), never by real DNS.
"""

from __future__ import annotations

# Names the resolver fixture answers (see answer_names).
PRIVATE_NAMES: dict[str, list] = {
    "intranet.tenant.test": ["10.1.2.3"],
    "metadata.tenant.test": ["169.254.169.254"],
    "ula.tenant.test": ["fd12:3456::1"],
    "mixed.tenant.test": [["93.184.216.34", "192.168.1.10"]],  # one answer, two addresses: one is enough
}
LOOPBACK_NAMES: dict[str, list] = {
    "loopback.tenant.test": ["127.0.0.1"],
    "mapped.tenant.test": ["::ffff:127.0.0.1"],
}

# Host spellings that all mean this machine.
LOOPBACK_HOSTS = [
    "127.0.0.1", "2130706433", "0177.0.0.1", "0x7f000001", "0x7f.0.0.1", "127.1", "127.0.0.2",
    "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "localhost", "0.0.0.0", "0",
    "loopback.tenant.test", "mapped.tenant.test",
]

REFUSED_URLS = [
    *(f"http://{host}/hook" for host in LOOPBACK_HOSTS),
    "http://10.0.0.1/hook", "http://172.16.5.4/hook", "http://192.168.0.1/hook", "http://100.64.0.1/hook",
    "http://169.254.169.254/latest/meta-data/", "http://2852039166/latest/meta-data/",  # decimal metadata
    "http://[::ffff:a9fe:a9fe]/latest/meta-data/", "http://[::ffff:10.0.0.1]/hook",
    "http://[64:ff9b::7f00:1]/hook", "http://[64:ff9b::a9fe:a9fe]/hook", "http://[64:ff9b::10.0.0.1]/hook",
    "http://[fd00::1]/hook", "http://[fc00::1]/hook", "http://[fe80::1]/hook", "http://[::]/hook",
    "http://224.0.0.1/hook", "http://255.255.255.255/hook", "http://198.18.0.1/hook",
    *(f"https://{name}/hook" for name in PRIVATE_NAMES),
]


def answer_names(resolver: dict[str, list[str]]) -> None:
    """Teach the ``resolver`` fixture the corpus's names."""
    for name, addresses in {**PRIVATE_NAMES, **LOOPBACK_NAMES}.items():
        resolver[name] = list(addresses)


def loopback_urls(port: int, path: str = "/hook") -> list[str]:
    """Every loopback spelling of ``http://127.0.0.1:<port><path>``."""
    return [f"http://{host}:{port}{path}" for host in LOOPBACK_HOSTS]


def is_refusal(text: str) -> bool:
    """An error text that says the guard refused the address (not that the connect failed)."""
    return "resolves to" in text and "(" in text
