"""Generated audio for sandbox recordings: real WAV files written with the stdlib ``wave`` module."""

from __future__ import annotations

import io
import math
import struct
import wave

SAMPLE_RATE = 8000


def tone_wav(duration_seconds: float, *, frequencies: tuple[float, ...] = (440.0, 660.0),
             sample_rate: int = SAMPLE_RATE) -> bytes:
    """Mono 16-bit PCM: alternating half-second tones, so a player shows something is there."""
    frames = int(max(0.0, duration_seconds) * sample_rate)
    # One half-second period per tone, precomputed once and repeated.
    periods = []
    half = sample_rate // 2
    for frequency in frequencies:
        samples = (int(8000 * math.sin(2 * math.pi * frequency * i / sample_rate)) for i in range(half))
        periods.append(struct.pack(f"<{half}h", *samples))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        written, index = 0, 0
        while written < frames:
            chunk = periods[index % len(periods)]
            take = min(half, frames - written)
            out.writeframes(chunk[: take * 2])
            written += take
            index += 1
    return buffer.getvalue()
