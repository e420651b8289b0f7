"""What audio rooms cost on the Janus media server (AudioBridge: a mix per participant).

    .venv/bin/python bench/rtc.py [--rooms 5 --participants 4 --seconds 20]

Starts a Janus of ours on free loopback ports (cpaas/rtc/janus_config.py), creates ``--rooms``
rooms and joins ``--participants`` aiortc clients (tests/support/rtc_client.py) to each, through
the same Janus calls the platform's ``/v1/rtc/join`` makes (the platform's own database work is not
in it). Each client sends a 20 ms Opus tone and receives its mix. Prints join time p50/p99, frames
received vs expected (loss), and Janus's CPU per participant-second (each participant is one stream
in and one mixed stream out). The aiortc clients run in this process and share the machine: on 2
cores they, not Janus, are the limit; read Janus's CPU per stream for capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cpaas.rtc.janus import Janus  # noqa: E402
from cpaas.rtc.janus_config import JanusPorts  # noqa: E402
from cpaas.rtc.process import start  # noqa: E402
from tests.support.rtc_client import RtcPeer  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def join_one(janus: Janus, room: str, n: int, peer: RtcPeer) -> float:
    began = time.perf_counter()
    offer = await peer.offer()
    joined = await asyncio.to_thread(janus.join, room, participant_id=f"p{n}", display=f"p{n}", offer_sdp=offer,
                                     muted=False)
    await peer.answer(joined.answer_sdp)
    return time.perf_counter() - began


async def run(janus: Janus, pid: int, rooms: int, participants: int, seconds: float) -> None:
    names = [f"bench-{secrets.token_hex(4)}" for _ in range(rooms)]
    for name in names:
        janus.room_create(name, description=name, max_participants=participants)
    peers = [RtcPeer(300 + 40 * (i % 10)) for i in range(rooms * participants)]
    joins = await asyncio.gather(*(join_one(janus, names[i // participants], i, p) for i, p in enumerate(peers)))
    await asyncio.sleep(3)  # ICE, DTLS, jitter buffers
    for p in peers:
        p.reset()
    cpu0, t0, own0 = cpu_seconds(pid), time.monotonic(), cpu_seconds(os.getpid())
    await asyncio.sleep(seconds)
    cpu1, elapsed, own1 = cpu_seconds(pid), time.monotonic() - t0, cpu_seconds(os.getpid())
    received = sum(p.frames for p in peers)
    expected = len(peers) * elapsed * 50
    streams = len(peers)
    print(f"rooms={rooms} participants/room={participants} streams={streams} seconds={elapsed:.1f}")
    print(f"join p50={pct(joins, .5) * 1000:.0f} ms p99={pct(joins, .99) * 1000:.0f} ms")
    print(f"frames received={received} expected={expected:.0f} loss={max(0.0, 1 - received / expected) * 100:.2f} %")
    print(f"janus cpu={(cpu1 - cpu0) / elapsed * 100:.1f} % of a core, "
          f"{(cpu1 - cpu0) / elapsed / streams * 1000:.2f} ms cpu per participant-second")
    print(f"aiortc clients cpu={(own1 - own0) / elapsed * 100:.1f} % of a core (the load generator)")
    await asyncio.gather(*(p.close() for p in peers))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rooms", type=int, default=5)
    parser.add_argument("--participants", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    ports = JanusPorts(free_port(), free_port(), 30000, 30999)
    admin_key = secrets.token_hex(8)
    with tempfile.TemporaryDirectory() as tmp, start(Path(tmp), ports=ports, admin_secret=secrets.token_hex(8),
                                                     admin_key=admin_key) as process:
        janus = Janus(f"http://127.0.0.1:{ports.http}/janus", admin_key, timeout=30)
        asyncio.run(run(janus, process.pid, args.rooms, args.participants, args.seconds))


if __name__ == "__main__":
    main()
