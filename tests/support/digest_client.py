"""A minimal SIP REGISTER client over UDP with digest auth, for what a real phone never does:
replaying a captured Authorization, or failing on purpose many times in a row."""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
from dataclasses import dataclass, field


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # SIP digest is MD5


@dataclass
class Reply:
    code: int
    reason: str
    headers: dict[str, str]


@dataclass
class DigestRegistrar:
    """Sends REGISTERs for ``username@domain`` to ``edge`` (host, port) from one local UDP port."""

    edge: tuple[str, int]
    username: str
    domain: str
    sock: socket.socket = field(init=False)
    cseq: int = 0
    call_id: str = field(default_factory=lambda: secrets.token_hex(8))

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()

    def request(self, authorization: str | None = None) -> Reply:
        self.cseq += 1
        lines = [
            f"REGISTER sip:{self.domain} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{secrets.token_hex(8)};rport",
            "Max-Forwards: 70",
            f"From: <sip:{self.username}@{self.domain}>;tag={secrets.token_hex(4)}",
            f"To: <sip:{self.username}@{self.domain}>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} REGISTER",
            f"Contact: <sip:{self.username}@127.0.0.1:{self.port}>",
            "Expires: 60",
            "User-Agent: cpaas-digest-test",
        ]
        if authorization:
            lines.append(f"Authorization: {authorization}")
        self.sock.sendto(("\r\n".join([*lines, "Content-Length: 0", "", ""])).encode(), self.edge)
        data = self.sock.recv(65535).decode(errors="replace")
        head = data.split("\r\n\r\n", 1)[0].split("\r\n")
        _, code, reason = head[0].split(" ", 2)
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return Reply(int(code), reason, headers)

    def authorization(self, challenge: Reply, password: str, *, nc: int = 1) -> str:
        """The Authorization answering ``challenge`` (a 401) with ``password``."""
        params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge.headers["www-authenticate"]))
        realm, nonce, uri = params["realm"], params["nonce"], f"sip:{self.domain}"
        cnonce, count = secrets.token_hex(8), f"{nc:08x}"
        ha1 = _md5(f"{self.username}:{realm}:{password}")
        response = _md5(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{_md5(f'REGISTER:{uri}')}")
        return (f'Digest username="{self.username}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
                f'response="{response}", algorithm=MD5, qop=auth, nc={count}, cnonce="{cnonce}"')

    def register(self, password: str) -> Reply:
        """Challenge, then answer it: the final reply."""
        challenge = self.request()
        if challenge.code != 401:
            return challenge
        return self.request(self.authorization(challenge, password))
