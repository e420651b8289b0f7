"""uvicorn's sans-I/O ``websockets`` protocol plus one ASGI extension: pre-encoded frames.

A fan-out writes the same message to thousands of sockets. Through plain ASGI each delivery is an
awaited ``websocket.send`` that re-frames the text per socket. This protocol (``uvicorn --ws
cpaas.im.gateway.wsproto:RawFrameProtocol``, see docs/decisions/0503) advertises the scope
extension ``cpaas.ws.raw`` whose ``write(data)`` puts already-framed server-to-client bytes (see
``encode_text``) straight onto the transport, and ``buffered()`` returns the transport's write
buffer so the app can drop a consumer that stops reading. Everything else (handshake, close,
pings, inbound frames) is uvicorn's own code; without the extension the gateway falls back to
ordinary ASGI sends, so any ASGI server still works.

uvicorn imports this module in each ``--workers`` process before the app, before ``django.setup()``:
import nothing here (nor in the package ``__init__``) that needs Django's app registry (decision 0911).
"""

from __future__ import annotations

import struct

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

RAW_EXTENSION = "cpaas.ws.raw"


def encode_text(payload: bytes) -> bytes:
    """One unmasked, unfragmented server-to-client text frame (RFC 6455 section 5.2)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


class RawFrameProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event) -> None:
        super().handle_connect(event)
        if getattr(self, "scope", None) is not None and self.handshake_initiated and not self.close_sent:
            self.scope["extensions"][RAW_EXTENSION] = {"write": self.write_raw, "buffered": self.buffered}

    def write_raw(self, data: bytes) -> bool:
        """Write framed bytes; False once the connection is closing (the app stops writing)."""
        if self.close_sent or self.disconnected or not self.handshake_complete or self.transport.is_closing():
            return False
        self.transport.write(data)
        return True

    def buffered(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport is not None else 0
