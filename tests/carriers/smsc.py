"""Start and stop the test SMSC (tests/carriers/smsc_server.py) as a separate process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

SERVER = Path(__file__).with_name("smsc_server.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Smsc:
    def __init__(self, tmp_path: Path, port: int | None = None, **flags) -> None:
        self.port = port or free_port()
        self.log = tmp_path / f"smsc-{self.port}.jsonl"
        self.flags = flags
        self.process: subprocess.Popen | None = None

    def start(self, **flags) -> Smsc:
        args = [sys.executable, str(SERVER), "--port", str(self.port), "--log", str(self.log)]
        for name, value in {**self.flags, **flags}.items():
            if value is True:
                args.append(f"--{name.replace('_', '-')}")
            elif value not in (None, False):
                args.extend([f"--{name.replace('_', '-')}", str(value)])
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=os.environ.copy())
        line = self.process.stdout.readline()
        assert line.startswith("READY"), line
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def lines(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def submits(self) -> list[dict]:
        return [line for line in self.lines() if "event" not in line]

    def binds(self) -> int:
        """Transceiver binds the SMSC accepted since it started (restarts included)."""
        return sum(1 for line in self.lines() if line.get("event") == "bind")

    def config(self) -> dict:
        return {"host": "127.0.0.1", "port": self.port, "system_id": "esme", "password": "pw",
                "window": 20, "bind_timeout": 2, "submit_timeout": 2}
