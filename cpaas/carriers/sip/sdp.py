"""SDP offers and answers for one audio stream: G.711 (PCMU/PCMA) and RFC 4733 telephone-events."""

from __future__ import annotations

import time
from dataclasses import dataclass

from cpaas.carriers.sip.g711 import NAMES

TELEPHONE_EVENT = 101  # the dynamic payload type we offer for RFC 4733


class SdpError(ValueError):
    """No audio stream we can use (no common codec, no connection address)."""


@dataclass(frozen=True)
class Media:
    """The far end's audio stream: where to send RTP, which codec and which DTMF payload type."""

    host: str
    port: int
    payload_type: int
    dtmf_payload_type: int | None


def offer(host: str, port: int, codecs: tuple[int, ...], *, session_id: int | None = None) -> bytes:
    """An offer (or an answer, given the one codec chosen) of one audio stream from ``host:port``."""
    session = session_id or int(time.time())
    formats = " ".join(str(pt) for pt in (*codecs, TELEPHONE_EVENT))
    lines = [
        "v=0", f"o=cpaas {session} {session} IN IP4 {host}", "s=cpaas", f"c=IN IP4 {host}", "t=0 0",
        f"m=audio {port} RTP/AVP {formats}",
        *(f"a=rtpmap:{pt} {NAMES[pt]}/8000" for pt in codecs),
        f"a=rtpmap:{TELEPHONE_EVENT} telephone-event/8000", f"a=fmtp:{TELEPHONE_EVENT} 0-15",
        "a=ptime:20", "a=sendrecv",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def parse(body: bytes, codecs: tuple[int, ...]) -> Media:
    """The first audio stream of ``body`` with its first codec among ``codecs`` (our preference
    decides only when the far end lists several: its order wins, as RFC 3264 asks of answers)."""
    host, port, formats, rtpmap = "", 0, [], {}
    in_audio = False
    for raw in body.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line.startswith("c=") and (not port or in_audio):
            host = line.split()[-1]
        elif line.startswith("m="):
            parts = line[2:].split()
            if in_audio:
                break
            if parts[0] == "audio" and port == 0:
                in_audio = True
                port = int(parts[1])
                formats = [int(f) for f in parts[3:] if f.isdigit()]
        elif in_audio and line.startswith("a=rtpmap:"):
            pt, _, encoding = line[9:].partition(" ")
            if pt.isdigit():
                rtpmap[int(pt)] = encoding.split("/")[0].lower()
    if not port or not host:
        raise SdpError("no audio stream in the SDP")
    chosen = next((pt for pt in formats if pt in codecs
                   and rtpmap.get(pt, NAMES.get(pt, "").lower()) == NAMES[pt].lower()), None)
    if chosen is None:
        raise SdpError(f"no common codec (offered {formats}, we speak {list(codecs)})")
    dtmf = next((pt for pt in formats if rtpmap.get(pt) == "telephone-event"), None)
    return Media(host=host, port=port, payload_type=chosen, dtmf_payload_type=dtmf)
