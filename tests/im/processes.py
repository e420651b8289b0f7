"""Real gateway processes (uvicorn serving cpaas.asgi) for multi-process tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class GatewayProcess:
    """One uvicorn process on a socket we own, so a restart comes back on the same port."""

    def __init__(self, database_url: str, redis_url: str, extra_env: dict[str, str] | None = None) -> None:
        self.sock = listening_socket()
        self.port = self.sock.getsockname()[1]
        self.env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "CPAAS_TESTING": "1",
                    "DJANGO_SETTINGS_MODULE": "cpaas.settings", "LOG_LEVEL": "WARNING",
                    "ACCESS_LOG_LEVEL": "WARNING", **(extra_env or {})}
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/im/connect"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GatewayProcess:
        self.launch()
        self.wait_ready()
        return self

    def launch(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "cpaas.asgi:application", "--fd", str(self.sock.fileno()),
             "--log-level", "warning", "--no-access-log", "--lifespan", "on", "--ws-max-size", "1048576",
             "--ws", "cpaas.im.gateway.wsproto:RawFrameProtocol", "--loop", "uvloop", "--http", "httptools"],
            cwd=ROOT, env=self.env, pass_fds=[self.sock.fileno()])

    def wait_ready(self, timeout: float = 20.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "gateway process exited"
            try:
                httpx.get(f"{self.http}/v1/openapi-does-not-exist", timeout=1.0)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise TimeoutError("gateway process did not start")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(15)

    def restart(self, sig: int = signal.SIGKILL) -> None:
        self.kill(sig)
        self.start()

    def stop(self) -> None:
        self.kill(signal.SIGTERM)
        self.sock.close()
