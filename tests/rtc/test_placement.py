"""Placement: the enabled media server with the fewest open rooms below its capacity."""

from __future__ import annotations

import pytest

from cpaas.core.errors import ApiError
from cpaas.rtc.models import MediaServer, Room
from cpaas.rtc.placement import server_for_new_room


def rooms_on(server: MediaServer, app, count: int, status: str = "open") -> None:
    for n in range(count):
        Room.objects.create(tenant=app.tenant, app=app, mode="test", name=f"r{n}", kind="audio",
                            max_participants=2, media_server=server, status=status)


def test_the_least_loaded_enabled_server_below_capacity_wins(app):
    a = MediaServer.objects.create(name="a", api_url="http://10.0.0.1:8088/janus", admin_key="k", capacity=3)
    b = MediaServer.objects.create(name="b", api_url="http://10.0.0.2:8088/janus", admin_key="k", capacity=3,
                                   record_dir="/srv/rec")
    off = MediaServer.objects.create(name="off", api_url="http://10.0.0.3:8088/janus", admin_key="k", enabled=False)
    rooms_on(a, app, 1)
    rooms_on(b, app, 2)
    rooms_on(b, app, 5, status="closed")  # closed rooms do not count
    assert server_for_new_room() == a
    assert server_for_new_room(record=True) == b  # only b records
    rooms_on(a, app, 2)  # a is full (3 of 3)
    assert server_for_new_room() == b
    rooms_on(b, app, 1)
    with pytest.raises(ApiError) as refused:
        server_for_new_room()
    assert refused.value.code == "rtc_unavailable"
    assert off.rooms.count() == 0
