"""Refuse call-control and status-callback URLs that point into our own network (SSRF).

A tenant's URL must resolve only to public addresses: loopback, private, link-local, reserved
and multicast ranges are refused (cloud metadata at 169.254.169.254 included). Development
(DEBUG) and tests may allow them with VOICE_ALLOW_PRIVATE_URLS=1. The check resolves the name
once before the request; a name that re-resolves differently between the check and the connect
(DNS rebinding) is not covered here: the shared guard of the webhooks room should replace this
one after merge (a connect-time check in the transport).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from cpaas.voice import conf


class UrlNotAllowed(Exception):
    pass


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return ip.is_global and not ip.is_multicast


async def check_url(url: str) -> None:
    if conf.VOICE_ALLOW_PRIVATE_URLS or settings.DEBUG:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlNotAllowed("only http and https URLs are allowed")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UrlNotAllowed(f"the host {parts.hostname} does not resolve") from exc
    for info in infos:
        if not _public(info[4][0]):
            raise UrlNotAllowed(f"the host {parts.hostname} resolves to a non-public address")
