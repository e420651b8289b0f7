"""SMPP's bytes on the wire: GSM 03.38 (unpacked septets), UCS-2, and the concatenation UDH.

Only the SMPP connector writes and reads these bytes. The alphabet itself is in
cpaas/carriers/base.py, shared with the messaging room's segment counting
(cpaas/messaging/encoding.py).
"""

from __future__ import annotations

from cpaas.carriers.base import GSM7, GSM7_BASIC, GSM7_CHARACTERS, GSM7_ESCAPE, GSM7_EXTENSION, UCS2

_BASIC_CODE = {char: code for code, char in enumerate(GSM7_BASIC) if char in GSM7_CHARACTERS}
_EXTENSION_BY_CODE = {code: char for char, code in GSM7_EXTENSION.items()}

DATA_CODING = {GSM7: 0x00, UCS2: 0x08}


def gsm7_encode(text: str) -> bytes:
    """Unpacked GSM 03.38 (one septet per byte), as SMPP carries data_coding 0."""
    out = bytearray()
    for char in text:
        code = _BASIC_CODE.get(char)
        if code is not None:
            out.append(code)
        else:
            out.extend((GSM7_ESCAPE, GSM7_EXTENSION[char]))
    return bytes(out)


def gsm7_decode(data: bytes) -> str:
    out: list[str] = []
    escaped = False
    for byte in data:
        if escaped:
            out.append(_EXTENSION_BY_CODE.get(byte, " "))
            escaped = False
        elif byte == GSM7_ESCAPE:
            escaped = True
        elif byte < len(GSM7_BASIC):
            out.append(GSM7_BASIC[byte])
    return "".join(out)


def encode_part(text: str, encoding: str) -> bytes:
    return gsm7_encode(text) if encoding == GSM7 else text.encode("utf-16-be")


def decode_payload(data: bytes, data_coding: int) -> str:
    """Text of an incoming short_message (deliver_sm) by its data_coding."""
    if data_coding == 0x08:
        return data.decode("utf-16-be", errors="replace")
    if data_coding in (0x01, 0x03):  # IA5/ASCII, Latin-1
        return data.decode("latin-1", errors="replace")
    return gsm7_decode(data)


def udh_concat(reference: int, total: int, index: int) -> bytes:
    """The 6-byte concatenation header: IEI 0x00 (8-bit reference), 1-based index."""
    return bytes((0x05, 0x00, 0x03, reference & 0xFF, total, index))


def udh_split(payload: bytes) -> tuple[tuple[int, int, int] | None, bytes]:
    """(concatenation (reference, total, index) or None, the text bytes) of a UDHI payload.

    Reads IEI 0x00 (8-bit reference) and 0x08 (16-bit reference); other elements are skipped.
    """
    if not payload:
        return None, payload
    length = payload[0]
    header, rest = payload[1:1 + length], payload[1 + length:]
    part = None
    at = 0
    while at + 2 <= len(header):
        iei, size = header[at], header[at + 1]
        data = header[at + 2:at + 2 + size]
        if iei == 0x00 and size == 3:
            part = (data[0], data[1], data[2])
        elif iei == 0x08 and size == 4:
            part = ((data[0] << 8) | data[1], data[2], data[3])
        at += 2 + size
    if part is not None and not (part[1] >= 1 and 1 <= part[2] <= part[1]):
        part = None
    return part, rest
