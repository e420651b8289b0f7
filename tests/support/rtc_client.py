"""An aiortc participant for the RTC tests: publishes a generated tone, measures what it hears.

``RtcPeer.offer()`` returns the SDP offer the platform's ``/v1/rtc/join`` takes; ``answer()``
applies the answer; ``heard`` counts received audio frames and their energy (RMS of the samples).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import math
import time
from array import array

import av
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

RATE = 48000
SAMPLES = 960  # 20 ms


class ToneTrack(MediaStreamTrack):
    """A sine tone at ``frequency`` Hz, 48 kHz mono, paced in real time (silence when ``frequency`` is 0)."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0) -> None:
        super().__init__()
        self.frequency = frequency
        self.pts = 0
        self.start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.start is None:
            self.start = time.monotonic()
        wait = self.start + self.pts / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        step = 2 * math.pi * self.frequency / RATE
        samples = array("h", (int(16000 * math.sin(step * n)) for n in range(self.pts, self.pts + SAMPLES)))
        frame = av.AudioFrame(format="s16", layout="mono", samples=SAMPLES)
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate, frame.pts, frame.time_base = RATE, self.pts, fractions.Fraction(1, RATE)
        self.pts += SAMPLES
        return frame


class RtcPeer:
    """Create it on the loop that runs it (``await RtcPeer.create()``): aiortc binds to the current loop."""

    def __init__(self, frequency: float = 440.0) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # no STUN: everything is local
        self.pc.addTransceiver(ToneTrack(frequency), direction="sendrecv")
        self.frames = 0
        self.loud_frames = 0  # frames with RMS above the noise floor
        self.energy = 0.0
        self.task: asyncio.Task | None = None
        self.pc.on("track", self._on_track)

    @classmethod
    async def create(cls, frequency: float = 440.0) -> RtcPeer:
        return cls(frequency)

    def _on_track(self, track) -> None:
        self.task = asyncio.ensure_future(self._consume(track))

    async def _consume(self, track) -> None:
        with contextlib.suppress(Exception):
            while True:
                frame = await track.recv()
                samples = array("h", bytes(frame.planes[0])[: frame.samples * 2 * len(frame.layout.channels)])
                rms = math.sqrt(sum(v * v for v in samples) / len(samples)) if samples else 0.0
                self.frames += 1
                self.energy += rms
                if rms > 500:
                    self.loud_frames += 1

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    def reset(self) -> None:
        self.frames, self.loud_frames, self.energy = 0, 0, 0.0

    async def close(self) -> None:
        await self.pc.close()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
