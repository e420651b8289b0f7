"""Start and stop one Janus media server on a configuration written by ``janus_config``.

Used by the tests and by ``manage.py rtc_media_server`` (which ``make run`` starts when RTC is
asked for): the one place a Janus process is started.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from cpaas.rtc.janus_config import JanusPorts, janus_command, write_janus_config


class JanusStartError(Exception):
    pass


def _listening(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


@contextlib.contextmanager
def start(workdir: Path, *, ports: JanusPorts, admin_secret: str, admin_key: str, bind: str = "127.0.0.1",
          interface: str = "", timeout: float = 15.0) -> Iterator[subprocess.Popen]:
    """A running Janus (logging to ``workdir/janus.log``) whose HTTP API answers; stopped on exit."""
    write_janus_config(workdir, ports=ports, admin_secret=admin_secret, admin_key=admin_key, bind=bind,
                       interface=interface)
    log = workdir / "janus.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(janus_command(workdir), stdout=out, stderr=subprocess.STDOUT,  # noqa: S603
                                   stdin=subprocess.DEVNULL, cwd=workdir)
    try:
        deadline = time.monotonic() + timeout
        while not _listening(bind, ports.http):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:]
                raise JanusStartError(f"janus did not listen on {ports.http}:\n{tail}")
            time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
