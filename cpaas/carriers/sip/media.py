"""RTP terminated in the worker: one stream per leg, one 20 ms ticker for all of them (decision 1100).

Each leg's stream sends a G.711 frame every 20 ms: the prompt being played, or silence. What the
far end sends is decoded for recordings, scanned for RFC 4733 telephone-events (digits go to the
leg's queue for ``Gather``), and, once two legs are bridged, relayed to the other leg (payload
copied when both legs use the same codec, transcoded through 16-bit samples when not).
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import struct
from array import array
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache

from cpaas.carriers.sip import g711
from cpaas.carriers.sip.sdp import Media

log = logging.getLogger(__name__)

TICK = 0.020
SPEECH_RMS = 300  # a 20 ms frame above this RMS (of 32768) is someone talking, not line noise


@lru_cache(maxsize=64)
def frames_of(pcm: bytes, payload_type: int) -> tuple[bytes, ...]:
    """16-bit 8 kHz samples as G.711 payloads of 20 ms, the last one padded with silence. Cached:
    a prompt played to many calls (the TTS cache hands out the same bytes) is encoded once."""
    encoded = g711.encode(pcm, payload_type)
    frames = [encoded[i:i + g711.FRAME] for i in range(0, len(encoded), g711.FRAME)]
    if frames and len(frames[-1]) < g711.FRAME:
        frames[-1] += g711.SILENCE[payload_type][: g711.FRAME - len(frames[-1])]
    return tuple(frames)


def rms(samples: array) -> float:
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


@dataclass
class Tap:
    """Audio captured from a stream: what the far end says (``heard``) and what it is played (``spoken``)."""

    heard: array = field(default_factory=lambda: array("h"))
    spoken: array = field(default_factory=lambda: array("h"))
    last_speech: float = 0.0  # loop time of the last frame heard above SPEECH_RMS

    def mixed(self) -> array:
        """Both directions summed into one mono track (clipped)."""
        size = max(len(self.heard), len(self.spoken))
        heard = self.heard + array("h", bytes(2 * (size - len(self.heard))))
        spoken = self.spoken + array("h", bytes(2 * (size - len(self.spoken))))
        return array("h", (max(-32768, min(32767, a + b)) for a, b in zip(heard, spoken, strict=True)))


class _Playback:
    def __init__(self, frames: tuple[bytes, ...], done: asyncio.Future) -> None:
        self.frames = frames
        self.index = 0
        self.done = done


class RtpStream(asyncio.DatagramProtocol):
    """One leg's RTP socket. ``remote`` is set from the far end's SDP (early media or answer)."""

    def __init__(self, ticker: MediaTicker) -> None:
        self.ticker = ticker
        self.transport: asyncio.DatagramTransport | None = None
        self.remote: Media | None = None
        self.ssrc = secrets.randbits(32)
        self.seq = secrets.randbits(16)
        self.timestamp = secrets.randbits(32)
        self.digits: asyncio.Queue[str] = asyncio.Queue()
        self.peer: RtpStream | None = None
        self.taps: list[Tap] = []
        self._playing: deque[_Playback] = deque()
        self._dtmf_seen: deque[int] = deque(maxlen=16)
        self.packets_in = 0
        self.packets_out = 0

    @property
    def port(self) -> int:
        return self.transport.get_extra_info("sockname")[1]

    @property
    def payload_type(self) -> int:
        return self.remote.payload_type if self.remote else g711.PCMU

    def connection_made(self, transport) -> None:
        self.transport = transport

    # --- sending -------------------------------------------------------------------------------
    def play(self, frames: tuple[bytes, ...]) -> asyncio.Future:
        """Queue G.711 frames (of this stream's codec); the future resolves when the last was sent."""
        done = asyncio.get_running_loop().create_future()
        if not frames:
            done.set_result(None)
        else:
            self._playing.append(_Playback(frames, done))
        return done

    def stop_playing(self) -> None:
        while self._playing:
            playback = self._playing.popleft()
            if not playback.done.done():
                playback.done.cancel()

    def tick(self) -> None:
        """Send this leg's next 20 ms: the prompt's next frame, or silence. A bridged leg sends
        only what its peer says (relayed as it arrives)."""
        if self.remote is None or self.transport is None:
            return
        payload = None
        while self._playing and payload is None:
            playback = self._playing[0]
            if playback.done.cancelled() or playback.index >= len(playback.frames):
                self._playing.popleft()
                if not playback.done.done():
                    playback.done.set_result(None)
                continue
            payload = playback.frames[playback.index]
            playback.index += 1
        if payload is None:
            if self.peer is not None:
                return
            payload = g711.SILENCE[self.payload_type]
        if self.taps:
            samples = g711.decode(payload, self.payload_type)
            for tap in self.taps:
                tap.spoken.extend(samples)
        self._send(self.payload_type, payload)

    def _send(self, payload_type: int, payload: bytes, *, marker: bool = False, advance: int = g711.FRAME) -> None:
        header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | payload_type, self.seq, self.timestamp,
                             self.ssrc)
        self.seq = (self.seq + 1) & 0xFFFF
        self.timestamp = (self.timestamp + advance) & 0xFFFFFFFF
        self.transport.sendto(header + payload, (self.remote.host, self.remote.port))
        self.packets_out += 1

    # --- receiving -----------------------------------------------------------------------------
    def datagram_received(self, data: bytes, addr) -> None:
        if len(data) < 12 or data[0] >> 6 != 2:
            return
        self.packets_in += 1
        payload_type = data[1] & 0x7F
        timestamp = struct.unpack_from("!I", data, 4)[0]
        offset = 12 + 4 * (data[0] & 0x0F)
        if data[0] & 0x10 and len(data) >= offset + 4:  # header extension
            offset += 4 + 4 * struct.unpack_from("!H", data, offset + 2)[0]
        payload = data[offset:]
        if data[0] & 0x20 and payload:  # padding
            payload = payload[: -payload[-1]]
        remote = self.remote
        if remote is None:
            return
        if payload_type == remote.dtmf_payload_type and len(payload) >= 4:
            self._telephone_event(payload, timestamp)
        elif payload_type in g711.NAMES and payload:
            self._audio(payload_type, payload)

    def _telephone_event(self, payload: bytes, timestamp: int) -> None:
        """RFC 4733: one event spans packets with the same timestamp; take it from the first seen."""
        if timestamp in self._dtmf_seen:
            return
        self._dtmf_seen.append(timestamp)
        event = payload[0]
        if event <= 15:
            self.digits.put_nowait("0123456789*#ABCD"[event])

    def _audio(self, payload_type: int, payload: bytes) -> None:
        peer = self.peer
        samples = None
        if self.taps:
            samples = g711.decode(payload, payload_type)
            loud = rms(samples) > SPEECH_RMS
            now = self.ticker.loop.time()
            for tap in self.taps:
                tap.heard.extend(samples)
                if loud:
                    tap.last_speech = now
        if peer is not None and peer.remote is not None and peer.transport is not None:
            if peer.payload_type != payload_type:
                if samples is None:
                    samples = g711.decode(payload, payload_type)
                payload = g711.encode(samples.tobytes(), peer.payload_type)
            for tap in peer.taps:
                tap.spoken.extend(samples if samples is not None else g711.decode(payload, peer.payload_type))
            peer._send(peer.payload_type, payload, advance=len(payload))

    def close(self) -> None:
        self.stop_playing()
        self.ticker.streams.discard(self)
        if self.peer is not None and self.peer.peer is self:
            self.peer.peer = None
        self.peer = None
        if self.transport is not None:
            self.transport.close()


class MediaTicker:
    """The one 20 ms clock of every leg of this worker, an asyncio task on the connector's loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.streams: set[RtpStream] = set()
        self.task: asyncio.Task | None = None
        self.late_ticks = 0

    async def open(self, host: str) -> RtpStream:
        _, stream = await self.loop.create_datagram_endpoint(lambda: RtpStream(self), local_addr=(host, 0))
        self.streams.add(stream)
        if self.task is None:
            self.task = self.loop.create_task(self._run(), name="sip-media-ticker")
        return stream

    async def _run(self) -> None:
        next_at = self.loop.time()
        while True:
            next_at += TICK
            delay = next_at - self.loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -5 * TICK:  # the loop was stalled: skip ahead rather than burst
                self.late_ticks += 1
                next_at = self.loop.time()
            for stream in list(self.streams):
                try:
                    stream.tick()
                except Exception:
                    log.exception("RTP tick failed; the stream is dropped")
                    self.streams.discard(stream)

    async def close(self) -> None:
        for stream in list(self.streams):
            stream.close()
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None
