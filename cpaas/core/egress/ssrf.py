"""The SSRF guard: which addresses a tenant URL may reach, checked when it is saved and at every connect.

Every address a host resolves to must be public; the connection then goes to that checked
address (the pinned one), while the Host header and TLS SNI keep the original name. A DNS answer
that changes between the check and the connect (rebinding) therefore cannot slip through: there
is no second lookup. Redirects are never followed (``client.py``), so a 3xx cannot point us
elsewhere either. The operator's allow-list (``conf.ALLOWED_CIDRS``) is the only exemption.
"""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache
from urllib.parse import urlsplit

from cpaas.core.egress import conf
from cpaas.core.ttlcache import TtlCache

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# (network, reason). Checked after IPv4-mapped/compatible IPv6 is turned back into IPv4.
BLOCKED_NETWORKS: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = [
    (ipaddress.ip_network(net), reason)
    for net, reason in [
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared address space"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local (cloud metadata)"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("255.255.255.255/32", "broadcast"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("100::/64", "discard-only"),
        ("2001::/23", "IETF protocol assignments"),
        ("2001:db8::/32", "documentation"),
        ("2002::/16", "6to4"),
        ("fc00::/7", "unique local (private)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    ]
]


class UnsafeUrl(ValueError):
    """The URL may not be used as a tenant URL; ``str(exc)`` says why. ``blocked``: because of
    where it points (a non-public address), not because of its shape."""

    blocked = False


class NotAllowedUrl(UnsafeUrl):
    """The URL points to (or its host resolves to) an address the guard refuses."""

    blocked = True


class BlockedAddress(ConnectionError):
    """Raised at connect time when the host resolves to an address we never reach."""


def canonical(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in ipaddress.IPv6Network("64:ff9b::/96"):  # well-known NAT64 prefix embeds IPv4
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip in ipaddress.IPv6Network("::/96") and int(ip) > 1:  # deprecated IPv4-compatible
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def _allowed_extra(ip: IPAddress) -> bool:
    return any(ip.version == network.version and ip in network
               for network in _networks(tuple(conf.ALLOWED_CIDRS)))


def blocked_reason(address: str | IPAddress) -> str | None:
    """Why we refuse to connect to ``address`` (None: it is allowed)."""
    ip = canonical(ipaddress.ip_address(str(address).split("%", 1)[0]))
    if _allowed_extra(ip):
        return None
    for network, reason in BLOCKED_NETWORKS:
        if ip.version == network.version and ip in network:
            return reason
    if not ip.is_global:
        return "not a public address"
    return None


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IP literals resolve to themselves)."""
    literal = host.strip("[]")
    try:
        return [str(ipaddress.ip_address(literal))]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def checked_addresses(host: str, port: int) -> list[str]:
    """Resolve and check; raise BlockedAddress if any address is refused."""
    addresses = resolve(host, port)
    if not addresses:
        raise BlockedAddress(f"{host} did not resolve")
    for address in addresses:
        reason = blocked_reason(address)
        if reason:
            raise BlockedAddress(f"{host} resolves to {address} ({reason})")
    return addresses


# Save-time lookups, kept briefly per (host, port): a batch of sends naming one callback URL
# resolves it once. Only the addresses are kept (the allow-list is applied afresh), and the
# connect-time check never uses this cache.
_save_time: TtlCache[tuple[str, int], list[str]] = TtlCache(30.0, max_entries=1024)


def _resolve_for_save(host: str, port: int) -> list[str]:
    return _save_time.get_or_load((host, port), lambda: resolve(host, port))


def forget_lookups() -> None:
    """Drop the save-time lookups (tests that answer DNS themselves)."""
    _save_time.clear()


def validate_url(url: str, *, live: bool = False) -> str:
    """Check a tenant URL when it is saved; returns it normalised or raises UnsafeUrl (its
    subclass NotAllowedUrl when the address is what is refused). ``live``: https only."""
    if not isinstance(url, str) or len(url) > 2048:
        raise UnsafeUrl("must be a URL of at most 2048 characters")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("must be an absolute http(s) URL")
    if live and parts.scheme != "https":
        raise UnsafeUrl("must use https in live mode")
    if parts.username or parts.password:
        raise UnsafeUrl("must not contain credentials")
    if parts.fragment:
        raise UnsafeUrl("must not contain a fragment")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = _resolve_for_save(parts.hostname, port)
    except (socket.gaierror, UnicodeError):
        # Not resolvable now (DNS down, or not yet published): the connect-time check still
        # applies to every request, so accepting it opens nothing.
        return parts.geturl()
    for address in addresses:
        reason = blocked_reason(address)
        if reason:
            raise NotAllowedUrl(f"points to a non-public address: {parts.hostname} resolves to "
                                f"{address} ({reason})")
    return parts.geturl()
