"""Fixtures of the SIP edge tests: endpoints created through the API, and a real Kamailio rendered
by our code reading the test database (so the tests that need it commit: transactional_db)."""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cpaas.sip_edge import process
from cpaas.sip_edge.models import SipRegistration
from tests.support import sipua

needs_sip = pytest.mark.skipif(
    bool(sipua.missing_binaries()) or not shutil.which("kamailio"),
    reason="baresip or kamailio not installed (make test installs baresip-core, kamailio, kamailio-postgres-modules)",
)


def free_sip_port() -> int:
    """A loopback port free for both UDP and TCP (the edge listens on both)."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(40000, 45000)
        with contextlib.ExitStack() as stack:
            try:
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = stack.enter_context(socket.socket(socket.AF_INET, kind))
                    s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port for the SIP edge")


@dataclass
class Edge:
    host: str
    port: int
    workdir: Path

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def log(self) -> str:
        return (self.workdir / "kamailio.log").read_text(errors="replace")


@contextlib.contextmanager
def running_edge(workdir: Path, *, port: int | None = None, **overrides) -> Iterator[Edge]:
    """A Kamailio of ours on a free loopback port. ``sip_location`` is Kamailio's table (unmanaged),
    which the test database's flush leaves alone: emptied here before and after."""
    port = port or free_sip_port()
    config = process.edge_config(listen_host="127.0.0.1", listen_port=port, **overrides)
    SipRegistration.objects.all().delete()
    try:
        with process.start(config, workdir):
            yield Edge("127.0.0.1", port, workdir)
    finally:
        SipRegistration.objects.all().delete()


@pytest.fixture
def edge(transactional_db, tmp_path) -> Iterator[Edge]:
    with running_edge(tmp_path / "kamailio") as edge:
        yield edge
