"""The raw-frame delivery path: frames encoded once, one transport write per socket per loop turn."""

import asyncio
import json

import pytest
from websockets.client import ClientProtocol
from websockets.protocol import OPEN
from websockets.uri import parse_uri

from cpaas.im.gateway import session as session_mod
from cpaas.im.gateway.hub import Hub
from cpaas.im.gateway.wsproto import encode_text

from .fakes import synced_session


def _parse(data: bytes) -> list[str]:
    """What a client's WebSocket parser (websockets, sans-I/O) reads from ``data``."""
    client = ClientProtocol(parse_uri("ws://gateway/"), state=OPEN, max_size=None)
    client.receive_data(data)
    assert client.parser_exc is None
    return [event.data.decode() for event in client.events_received()]


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_encode_text_is_one_valid_server_frame_at_every_length_boundary(size):
    text = "é" * (size // 2) + "x" * (size % 2)
    assert _parse(encode_text(text.encode())) == [text]


class RawSocket:
    def __init__(self):
        self.writes: list[bytes] = []
        self.backlog = 0

    def extension(self):
        return {"write": self.write, "buffered": lambda: self.backlog}

    def write(self, data: bytes) -> bool:
        self.writes.append(data)
        return True


def test_a_fan_out_shares_one_encoding_and_writes_each_socket_once_per_loop_turn():
    async def scenario():
        hub = Hub(asyncio.get_running_loop())
        sockets = [RawSocket() for _ in range(3)]
        for raw in sockets:
            hub.users[("app_1", "bob")].add(synced_session(hub, raw))
        for seq in (1, 2):
            frame = json.dumps({"type": "msg", "message": {"seq": seq}})
            hub.dispatch(json.dumps({"k": "msg", "app": "app_1", "conv": "cnv_1", "seq": seq, "to": ["bob"],
                                     "frame": frame}))
        assert all(raw.writes == [] for raw in sockets)  # nothing written inside the dispatch
        await asyncio.sleep(0)
        for raw in sockets:
            assert len(raw.writes) == 1  # both frames in one write
            assert [json.loads(f)["message"]["seq"] for f in _parse(raw.writes[0])] == [1, 2]

    asyncio.run(scenario())


def test_a_socket_that_stops_reading_is_closed_as_a_slow_consumer():
    async def scenario():
        hub = Hub(asyncio.get_running_loop())
        raw = RawSocket()
        session = synced_session(hub, raw)
        session.push('{"type":"pong"}')
        raw.backlog = session_mod.MAX_BUFFERED + 1
        await asyncio.sleep(0)
        assert session.closing == (4008, "slow consumer")
        assert session.congested()

    asyncio.run(scenario())
