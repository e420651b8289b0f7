"""SIP messages (RFC 3261) as the worker needs them: parse one UDP datagram, build requests and responses."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length",
           "c": "content-type", "k": "supported"}
REASONS = {100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK", 400: "Bad Request",
           404: "Not Found", 408: "Request Timeout", 480: "Temporarily Unavailable",
           481: "Call/Transaction Does Not Exist", 486: "Busy Here", 487: "Request Terminated",
           488: "Not Acceptable Here", 500: "Server Internal Error", 501: "Not Implemented",
           503: "Service Unavailable"}


class ParseError(ValueError):
    pass


@dataclass
class Message:
    """A request (``method`` and ``uri`` set) or a response (``status`` set). Header names are kept
    lower-case; a header may repeat (Via, Record-Route)."""

    method: str = ""
    uri: str = ""
    status: int = 0
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return bool(self.method)

    def get(self, name: str, default: str = "") -> str:
        name = name.lower()
        return next((value for key, value in self.headers if key == name), default)

    def all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    def add(self, name: str, value: str) -> Message:
        self.headers.append((name.lower(), value))
        return self

    def set(self, name: str, value: str) -> Message:
        name = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k != name] + [(name, value)]
        return self

    @property
    def call_id(self) -> str:
        return self.get("call-id")

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = self.get("cseq").partition(" ")
        return int(number or 0), method.strip()

    @property
    def branch(self) -> str:
        return param(self.get("via"), "branch")

    def encode(self) -> bytes:
        first = f"{self.method} {self.uri} SIP/2.0" if self.method else f"SIP/2.0 {self.status} {self.reason}"
        lines = [first] + [f"{_title(k)}: {v}" for k, v in self.headers if k != "content-length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


def _title(name: str) -> str:
    special = {"call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate",
               "p-asserted-identity": "P-Asserted-Identity"}
    return special.get(name) or "-".join(part.capitalize() for part in name.split("-"))


def parse(data: bytes) -> Message:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "replace").split("\r\n")
    first = lines[0].split(" ", 2)
    if len(first) < 3:
        raise ParseError(f"bad start line {lines[0]!r}")
    message = Message()
    if first[0] == "SIP/2.0":
        if not first[1].isdigit():
            raise ParseError(f"bad status {first[1]!r}")
        message.status, message.reason = int(first[1]), first[2]
    else:
        if first[2] != "SIP/2.0":
            raise ParseError(f"bad request line {lines[0]!r}")
        message.method, message.uri = first[0], first[1]
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and message.headers:  # folded continuation
            name, value = message.headers[-1]
            message.headers[-1] = (name, value + " " + line.strip())
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name = name.strip().lower()
        name = COMPACT.get(name, name)
        # Via, Record-Route, Route and Contact may carry several values on one line.
        values = _split_commas(value) if name in ("via", "record-route", "route") else [value.strip()]
        message.headers.extend((name, v) for v in values)
    length = message.get("content-length")
    message.body = body[: int(length)] if length.isdigit() else body
    return message


def _split_commas(value: str) -> list[str]:
    parts, depth, current, quoted = [], 0, "", False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif ch == "<" and not quoted:
            depth += 1
        elif ch == ">" and not quoted:
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current.strip())
    return parts


def param(value: str, name: str) -> str:
    """A ``;name=value`` parameter of a header value (outside its <URI>)."""
    tail = value[value.rfind(">") + 1:] if ">" in value else value
    match = re.search(rf";\s*{re.escape(name)}=([^;\s,]+)", tail)
    return match.group(1) if match else ""


def uri_of(value: str) -> str:
    """The URI of a name-addr (``"x" <sip:a@b>;tag=1``) or addr-spec."""
    if "<" in value:
        return value[value.index("<") + 1: value.index(">")]
    return value.split(";")[0].strip()


def host_port(uri: str, default_port: int = 5060) -> tuple[str, int]:
    """(host, port) of a sip: URI."""
    rest = uri.split(":", 1)[1] if ":" in uri else uri
    rest = rest.split("@", 1)[-1].split(";")[0].split("?")[0]
    host, _, port = rest.partition(":")
    return host, int(port) if port.isdigit() else default_port


def user_of(uri: str) -> str:
    rest = uri.split(":", 1)[1] if ":" in uri else uri
    return rest.split("@", 1)[0] if "@" in rest else ""


def new_tag() -> str:
    return secrets.token_hex(6)


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


def response(request: Message, status: int, *, to_tag: str = "", body: bytes = b"",
             extra: list[tuple[str, str]] | None = None) -> Message:
    """A response to ``request`` copying Via, From, To (with ``to_tag`` added), Call-ID, CSeq."""
    reply = Message(status=status, reason=REASONS.get(status, "Unknown"))
    for value in request.all("via"):
        reply.add("via", value)
    reply.add("from", request.get("from"))
    to = request.get("to")
    if to_tag and "tag=" not in to:
        to = f"{to};tag={to_tag}"
    reply.add("to", to)
    reply.add("call-id", request.call_id)
    reply.add("cseq", request.get("cseq"))
    for name, value in extra or []:
        reply.add(name, value)
    reply.body = body
    return reply
