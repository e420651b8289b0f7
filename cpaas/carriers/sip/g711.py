"""G.711 µ-law (PCMU) and A-law (PCMA) in pure Python, by table: 8 kHz 16-bit samples ↔ bytes.

Tables rather than ``audioop`` (deprecated, gone in Python 3.13): encoding maps every 16-bit
sample through a 65,536-entry table, decoding every byte through a 256-entry one; a 20 ms frame
(160 samples) costs a few microseconds either way.
"""

from __future__ import annotations

from array import array

PCMU, PCMA = 0, 8  # RTP payload types (RFC 3551)
NAMES = {PCMU: "PCMU", PCMA: "PCMA"}
RATE = 8000
FRAME = 160  # samples per 20 ms packet


def _ulaw(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(0, magnitude.bit_length() - 8)
    exponent = min(exponent, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _ulaw_decode(byte: int) -> int:
    byte = ~byte & 0xFF
    sign, exponent, mantissa = byte & 0x80, (byte >> 4) & 0x07, byte & 0x0F
    sample = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -sample if sign else sample


def _alaw(sample: int) -> int:
    sign = 0x80 if sample >= 0 else 0
    magnitude = min(abs(sample), 32767) >> 3
    if magnitude < 32:
        code = magnitude >> 1
    else:
        exponent = magnitude.bit_length() - 5
        code = (exponent << 4) | ((magnitude >> exponent) & 0x0F)
    return (sign | code) ^ 0x55


def _alaw_decode(byte: int) -> int:
    byte ^= 0x55
    sign, exponent, mantissa = byte & 0x80, (byte >> 4) & 0x07, byte & 0x0F
    sample = (mantissa << 4) + 8 if exponent == 0 else ((mantissa << 4) + 0x108) << (exponent - 1)
    return sample if sign else -sample


def _signed(index: int) -> int:
    return index - 65536 if index >= 32768 else index


_ENCODE = {PCMU: bytes(_ulaw(_signed(i)) for i in range(65536)),
           PCMA: bytes(_alaw(_signed(i)) for i in range(65536))}
_DECODE = {PCMU: [_ulaw_decode(b) for b in range(256)], PCMA: [_alaw_decode(b) for b in range(256)]}
SILENCE = {PCMU: _ENCODE[PCMU][0:1] * FRAME, PCMA: _ENCODE[PCMA][0:1] * FRAME}


def encode(pcm: bytes, payload_type: int) -> bytes:
    """16-bit little-endian signed samples → one G.711 byte each."""
    return bytes(map(_ENCODE[payload_type].__getitem__, array("H", pcm)))


def decode(payload: bytes, payload_type: int) -> array:
    """G.711 bytes → an ``array('h')`` of 16-bit samples."""
    return array("h", map(_DECODE[payload_type].__getitem__, payload))
