"""Placement: which media server a new room goes to (decision 1500).

The enabled server with the fewest open rooms below its capacity; several rows are several Janus
processes or hosts. No server at all is the same as a server that is down: 503 ``rtc_unavailable``.
"""

from __future__ import annotations

from django.db.models import Count, F, Q

from cpaas.core.errors import ApiError
from cpaas.rtc.models import MediaServer


def unavailable() -> ApiError:
    return ApiError("No RTC media server is available; try again shortly.", code="rtc_unavailable")


def server_for_new_room(*, record: bool = False) -> MediaServer:
    """A server for a new room; a recorded room needs one with a ``record_dir``."""
    servers = MediaServer.objects.filter(enabled=True)
    if record:
        servers = servers.exclude(record_dir="")
    server = (servers
              .annotate(open_rooms=Count("rooms", filter=Q(rooms__status="open")))
              .filter(open_rooms__lt=F("capacity")).order_by("open_rooms", "id").first())
    if server is None:
        raise unavailable()
    return server
