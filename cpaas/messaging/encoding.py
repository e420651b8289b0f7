"""How carriers count an SMS: GSM-7 or UCS-2 and segments (the bytes on the wire: cpaas/carriers/smpp/codec.py).

GSM 03.38 has a basic table (one septet per character) and an extension table reached through an
escape septet, so ``€ [ ] { } ^ ~ | \\`` and form feed cost two septets. A body with any character
outside both tables is sent as UCS-2 (UTF-16 code units), which cuts a segment from 160 to 70
characters: one typographic quote can double a message's price. Concatenated messages carry a
6-byte UDH, leaving 153 septets or 67 UCS-2 units per segment, and a segment never ends in the
middle of an escape sequence or a surrogate pair.
"""

from __future__ import annotations

from dataclasses import dataclass

from cpaas.carriers.base import GSM7, GSM7_CHARACTERS, GSM7_EXTENSION, UCS2

SINGLE_GSM7, MULTI_GSM7 = 160, 153
SINGLE_UCS2, MULTI_UCS2 = 70, 67
MAX_SEGMENTS = 10

# Look-alikes that silently force UCS-2; smart encoding swaps them for their GSM-7 twin.
SMART_REPLACEMENTS = {
    "\u00a0": " ",   # no-break space: invisible, and it alone doubles the cost
    "\u2000": " ", "\u2001": " ", "\u2002": " ", "\u2003": " ", "\u2004": " ", "\u2005": " ",
    "\u2006": " ", "\u2007": " ", "\u2008": " ", "\u2009": " ", "\u200a": " ", "\u202f": " ",
    "\u205f": " ", "\u3000": " ",
    "\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "",
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u2035": "'",
    "\u02bc": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"',
    "\u00bb": '"', "\u2039": "'", "\u203a": "'",
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
    "\u2212": "-", "\u00ad": "-",
    "\u2026": "...", "\u2022": "-", "\u00b7": ".",
}


def septets(char: str) -> int | None:
    """Septets this character costs in GSM-7, or None when GSM-7 cannot carry it."""
    if char in GSM7_CHARACTERS:
        return 1
    if char in GSM7_EXTENSION:
        return 2
    return None


def is_gsm7(text: str) -> bool:
    return all(septets(char) is not None for char in text)


def ucs2_characters(text: str) -> list[str]:
    """The distinct characters that force UCS-2, in order of first appearance."""
    seen: dict[str, None] = {}
    for char in text:
        if septets(char) is None:
            seen.setdefault(char, None)
    return list(seen)


def smart_encode(text: str) -> str:
    """Replace typographic look-alikes so a message that could be GSM-7 stays GSM-7."""
    if is_gsm7(text):
        return text
    return "".join(SMART_REPLACEMENTS.get(char, char) for char in text)


def _utf16_units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str
    segments: int
    units: int                 # septets (GSM-7) or UTF-16 code units (UCS-2)
    parts: tuple[str, ...]     # the body split as the carrier will split it
    ucs2_characters: tuple[str, ...]
    body: str                  # after smart encoding, if asked

    @property
    def per_segment(self) -> int:
        if self.encoding == GSM7:
            return SINGLE_GSM7 if self.segments <= 1 else MULTI_GSM7
        return SINGLE_UCS2 if self.segments <= 1 else MULTI_UCS2

    @property
    def too_long(self) -> bool:
        return self.segments > MAX_SEGMENTS


def _split(text: str, cost, single: int, multi: int) -> tuple[int, tuple[str, ...]]:
    total = sum(cost(char) for char in text)
    if total <= single:
        return total, (text,) if text else ()
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for char in text:
        weight = cost(char)
        if used + weight > multi:  # an escape pair or surrogate pair moves whole to the next part
            parts.append("".join(current))
            current, used = [], 0
        current.append(char)
        used += weight
    if current:
        parts.append("".join(current))
    return total, tuple(parts)


def segment(text: str, *, smart_encoding: bool = False) -> SegmentInfo:
    """Encoding, segment count and the split of ``text``, exactly as carriers count them."""
    if smart_encoding:
        text = smart_encode(text)
    if GSM7_CHARACTERS.issuperset(text):  # the common case: one septet per character, plain slicing
        units = len(text)
        if units <= SINGLE_GSM7:
            parts: tuple[str, ...] = (text,) if text else ()
        else:
            parts = tuple(text[start:start + MULTI_GSM7] for start in range(0, units, MULTI_GSM7))
        return SegmentInfo(GSM7, max(1, len(parts)), units, parts, (), text)
    forcing = ucs2_characters(text)
    if not forcing:
        units, parts = _split(text, lambda char: septets(char) or 2, SINGLE_GSM7, MULTI_GSM7)
        return SegmentInfo(GSM7, max(1, len(parts)), units, parts, (), text)
    units, parts = _split(text, _utf16_units, SINGLE_UCS2, MULTI_UCS2)
    return SegmentInfo(UCS2, max(1, len(parts)), units, parts, tuple(forcing), text)
