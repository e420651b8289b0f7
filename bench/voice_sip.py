"""SIP calls with RTP media through the SIP connector, against SIPp as the far end.

    .venv/bin/python bench/voice_sip.py [--calls 1000 --rate 50 --hold 5]

One process, one event loop: the SIP connector (cpaas/carriers/sip) places ``--calls`` outbound
calls at ``--rate`` per second to a SIPp UAS (Debian's ``sip-tester``, started here on loopback;
it rings, answers every INVITE and echoes the RTP it receives, ``-rtp_echo``). Each answered call
plays a TTS prompt (espeak-ng, rendered once, then cached as in production) for the rest of
``--hold`` seconds, then hangs up with a BYE. At 50 calls/s held 5 s, ~250 calls are up at once,
each sending and receiving 50 packets/s.

Measured: call setup (INVITE sent → 200 OK received) p50/p99, failed calls, the peak of calls up
at once, RTP packets sent and echoed back (proof the media flowed both ways), this process's CPU
per call-second (process time / answered call-seconds) and SIPp's CPU beside it. Not measured
here: the engine's database writes (bench/voice.py measures the engine on the sandbox network).

Targets (issue 15): ≥ 200 calls up at once with media, ≥ 50 setups/s, setup p99 < 300 ms,
0 failed. Exit status 0 PASS, 1 FAIL; 2 when sipp or espeak-ng is not installed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cpaas.carriers.clock import RealClock  # noqa: E402
from cpaas.carriers.sip import SipConfig, SipVoiceConnector  # noqa: E402

PROMPT = "Hello. This is a message from the platform benchmark. Please stay on the line."


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def one_call(connector: SipVoiceConnector, n: int, hold: float, stats: dict) -> None:
    leg_id = f"leg_bench{n}"

    async def ringing(event) -> None:
        return None

    started = time.monotonic()
    outcome = await connector.originate(leg_id=leg_id, to=f"+1202555{n % 10000:04d}", from_="+15005559000",
                                        timeout=30, on_ringing=ringing)
    if not outcome.answered:
        stats["failed"].append(outcome.sip_code)
        connector.release(leg_id)
        return
    stats["setup"].append(time.monotonic() - started)
    stats["up"] += 1
    stats["peak"] = max(stats["peak"], stats["up"])
    answered = time.monotonic()
    try:
        async with asyncio.timeout(hold):
            await connector.say(leg_id, PROMPT)
            await asyncio.sleep(hold)
    except TimeoutError:
        pass
    stream = connector._leg(leg_id).stream
    stats["sent"] += stream.packets_out
    stats["echoed"] += stream.packets_in
    await connector.hangup(leg_id)
    stats["call_seconds"] += time.monotonic() - answered
    stats["up"] -= 1
    connector.release(leg_id)


async def run(args, sip_port: int) -> dict:
    config = SipConfig.parse({"host": "127.0.0.1", "port": sip_port, "plus": False})
    connector = SipVoiceConnector(clock=RealClock(), config=config)
    await connector.start()
    await connector.say("none", PROMPT)  # renders and caches the prompt (no such leg: nothing is sent)
    stats = {"setup": [], "failed": [], "up": 0, "peak": 0, "sent": 0, "echoed": 0, "call_seconds": 0.0}
    loop = asyncio.get_running_loop()
    began, cpu0 = loop.time(), time.process_time()
    tasks = []
    for n in range(args.calls):
        await asyncio.sleep(max(0.0, began + n / args.rate - loop.time()))
        tasks.append(loop.create_task(one_call(connector, n, args.hold, stats)))
    await asyncio.gather(*tasks)
    stats["cpu"] = time.process_time() - cpu0
    stats["wall"] = loop.time() - began
    stats["late_ticks"] = connector.ticker.late_ticks
    await connector.close()
    return stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--hold", type=float, default=5.0)
    args = parser.parse_args()
    missing = [name for name in ("sipp", "espeak-ng", "sox") if not shutil.which(name)]
    if missing:
        print(f"not installed: {', '.join(missing)} (apt-get install sip-tester espeak-ng sox)")
        return 2
    sip_port, media_port = free_port(), free_port()
    sipp = subprocess.Popen(
        ["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(sip_port), "-mi", "127.0.0.1", "-mp", str(media_port),
         "-rtp_echo", "-nostdin", "-max_socket", "4096", "-buff_size", str(4 * 1024 * 1024)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        sipp_cpu0 = cpu_seconds(sipp.pid)
        stats = asyncio.run(run(args, sip_port))
        sipp_cpu = cpu_seconds(sipp.pid) - sipp_cpu0
    finally:
        sipp.terminate()
        sipp.wait(10)
    answered = len(stats["setup"])
    setup_rate = answered / (args.calls / args.rate)
    p50, p99 = percentile(stats["setup"], 0.50) * 1000, percentile(stats["setup"], 0.99) * 1000
    per_call_second = stats["cpu"] / stats["call_seconds"] * 1000 if stats["call_seconds"] else float("nan")
    expected = stats["call_seconds"] * 50
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.calls} calls at {args.rate:g}/s, "
          f"held {args.hold:g} s")
    print(f"answered {answered}, failed {len(stats['failed'])} {sorted(set(stats['failed']))}")
    print(f"calls up at once (peak): {stats['peak']}")
    print(f"setups/s offered {args.rate:g}, answered {setup_rate:.1f}; setup p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(f"RTP: sent {stats['sent']} ({stats['sent'] / expected:.0%} of 50/s per call-second), "
          f"echoed back {stats['echoed']}; late ticks {stats['late_ticks']}")
    print(f"CPU: platform {stats['cpu']:.2f} s = {per_call_second:.2f} ms per call-second "
          f"({stats['cpu'] / stats['wall']:.0%} of a core); SIPp {sipp_cpu:.2f} s")
    ok = stats["peak"] >= 200 and setup_rate >= 50 * 0.98 and p99 < 300 and not stats["failed"]
    print("PASS" if ok else "FAIL", "(targets: ≥ 200 up at once, ≥ 50 setups/s, p99 < 300 ms, 0 failed)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
