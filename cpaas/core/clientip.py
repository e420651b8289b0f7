"""The client's address, as far as we can trust it.

``REMOTE_ADDR`` is the peer of the TCP connection: the client itself, or a proxy in front of us.
``X-Forwarded-For`` is written by whoever sent the request, so it is believed only when the peer is
one of ``TRUSTED_PROXIES``; then the client is the right-most address in the header that is not a
trusted proxy (each proxy appends the address it saw, so everything left of that could be forged).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1:value.index("]")]
    elif value.count(":") == 1:  # "203.0.113.7:51234"
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _trusted(address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


def client_ip(request) -> str | None:
    """The address to account a request to (throttles, audit log); None if there is none."""
    return client_address(request.META.get("REMOTE_ADDR") or "", request.META.get("HTTP_X_FORWARDED_FOR", ""))


def scope_client_ip(scope) -> str | None:
    """:func:`client_ip` of an ASGI connection (the IM gateway's WebSocket handshake)."""
    peer = (scope.get("client") or ("",))[0] or ""
    forwarded = ", ".join(value.decode("latin-1") for name, value in scope.get("headers", ())
                          if name == b"x-forwarded-for")
    return client_address(peer, forwarded)


def client_address(remote: str, forwarded: str) -> str | None:
    """The client behind peer ``remote`` given its ``X-Forwarded-For`` header (see the module)."""
    peer = _parse(remote)
    if peer is None:
        return None
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not networks or not _trusted(peer, networks):
        return str(peer)
    for hop in reversed([part for part in forwarded.split(",") if part.strip()]):
        address = _parse(hop)
        if address is None:
            return str(peer)  # a hop we cannot read: stop at the last address we can vouch for
        if not _trusted(address, networks):
            return str(address)
        peer = address
    return str(peer)
