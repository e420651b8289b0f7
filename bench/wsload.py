"""A lean WebSocket load client for fan-out benchmarks: thousands of receivers in one process.

Each connection is a plain asyncio protocol (RFC 6455 client side: handshake, masked text frames
out, unmasked frames in, pings answered). It splits every received frame out of the byte stream and counts, per
connection, the frames that are IM messages (a frame may also be a JSON array of frames, which the
gateway sends to a socket that fell behind; every ``"type":"msg"`` in it counts). The figures are
honest because each member connection receives, frames and counts every message itself; the
benchmark then checks that every connection got all of them. It only avoids the general-purpose
client library's per-frame costs (a future per message, UTF-8 validation, a JSON parse).
"""

from __future__ import annotations

import asyncio
import base64
import os
from urllib.parse import urlsplit

from websockets.frames import Frame, Opcode

MSG = b'"type":"msg"'


class LeanClient(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.open = False
        self.closed = asyncio.get_running_loop().create_future()
        self.handshake = asyncio.get_running_loop().create_future()
        self.messages = 0
        self.frames = 0
        self.needle: bytes | None = None
        self.found: asyncio.Future | None = None

    # --- asyncio.Protocol ---
    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.open = False
        for fut in (self.handshake, self.closed, self.found):
            if fut is not None and not fut.done():
                fut.set_result(None) if fut is self.closed else fut.set_exception(ConnectionError("closed"))

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[:end]).split(b" ", 2)
            del buf[:end + 4]
            if len(status) < 2 or status[1] != b"101":
                self.handshake.set_exception(ConnectionError(f"handshake refused: {status[1:2]}"))
                self.transport.close()
                return
            self.open = True
            self.handshake.set_result(None)
        pos, size = 0, len(buf)
        while size - pos >= 2:
            n = buf[pos + 1] & 0x7F
            head = 2
            if n == 126:
                if size - pos < 4:
                    break
                n, head = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
            elif n == 127:
                if size - pos < 10:
                    break
                n, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
            if size - pos < head + n:
                break
            opcode = buf[pos] & 0x0F
            start, pos = pos + head, pos + head + n
            if opcode == 0x1:
                self.frames += 1
                payload = buf[start:pos]
                self.messages += payload.count(MSG)
                if self.needle is not None and self.needle in payload:
                    self.needle = None
                    if not self.found.done():
                        self.found.set_result(bytes(payload))
            elif opcode == 0x9:  # the server's keepalive ping: answer, or it closes us
                self.transport.write(Frame(Opcode.PONG, bytes(buf[start:pos])).serialize(mask=True))
            elif opcode == 0x8:
                self.transport.close()
                return
        if pos:
            del buf[:pos]

    # --- use ---
    def send(self, text: str) -> None:
        self.transport.write(Frame(Opcode.TEXT, text.encode()).serialize(mask=True))

    async def request(self, text: str, needle: str, timeout: float = 60) -> bytes:
        """Send ``text`` and wait for a frame containing ``needle``."""
        self.needle = needle.encode()
        self.found = asyncio.get_running_loop().create_future()
        self.send(text)
        return await asyncio.wait_for(self.found, timeout)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(Frame(Opcode.CLOSE, b"\x03\xe8").serialize(mask=True))
            self.transport.close()


async def lean_connect(url: str, attempts: int = 50) -> LeanClient:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET {target or '/'} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    for attempt in range(attempts):
        try:
            _, client = await loop.create_connection(LeanClient, parts.hostname, parts.port)
            client.transport.write(request)
            await asyncio.wait_for(client.handshake, 60)
            return client
        except OSError:
            await asyncio.sleep(0.05 * (attempt + 1))
    raise RuntimeError("could not connect")
