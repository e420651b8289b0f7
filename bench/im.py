"""IM benchmark: real gateway processes (uvicorn + cpaas.asgi), PostgreSQL and Redis.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cpaas_im REDIS_URL=redis://127.0.0.1:6379/4 \\
        python bench/im.py [--scenarios latency,group,chatroom] [--gateways 2] [--rate 200]
    python bench/im.py --chaos          # the full chaos test: 50 clients, 20,000 messages

Scenarios (targets on the 2-core machine, from issue 5):
  latency   1:1 send-to-receive latency p50/p99 at --rate msg/s      (target p99 < 50 ms at 200 msg/s)
  group     deliveries/s into one --group-size member group, all connected   (target >= 20,000/s)
  chatroom  deliveries/s to --room-size chatroom members                      (target >= 50,000/s)
Each figure is printed beside the same scenario run against a bare baseline measured in the same
run (uvicorn + a raw ASGI WebSocket relay with no auth, database, Redis or ordering), and the CPU
seconds used by the gateway processes and by the load process. The load clients run in this
process; the gateways in their own processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cpaas.settings")
os.environ.setdefault("CPAAS_TESTING", "1")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("ACCESS_LOG_LEVEL", "WARNING")

from bench.wsload import lean_connect  # noqa: E402

# the gateway's uvicorn WebSocket protocol (docs/decisions/0503); BENCH_WS=auto measures plain ASGI sends
WS_PROTOCOL = os.environ.get("BENCH_WS", "cpaas.im.gateway.wsproto:RawFrameProtocol")


# --- the bare baseline: a relay with nothing else ----------------------------------------------
_rooms: dict[str, list] = {}


async def baseline_app(scope, receive, send):
    """Frames from one socket go to every other socket of the same ``?room=``."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "websocket":
        return
    room = scope["query_string"].decode().partition("room=")[2]
    await receive()
    await send({"type": "websocket.accept"})
    members = _rooms.setdefault(room, [])
    members.append(send)
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text") or ""
            frame = '{"type":"msg","message":' + text + "}"
            for other in list(members):
                if other is not send:
                    try:
                        await other({"type": "websocket.send", "text": frame})
                    except Exception:
                        continue
    finally:
        members.remove(send)


# --- helpers ------------------------------------------------------------------------------------

def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


OUTBOX_PID: list[int] = []  # the outbox drainer process (manage.py im_outbox), reported on its own


class Cpu:
    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.server0 = sum(cpu_of(p) for p in pids)
        self.outbox0 = sum(cpu_of(p) for p in OUTBOX_PID)
        self.load0 = self_cpu()
        self.t0 = time.monotonic()

    def report(self, deliveries: int | None = None, unit: str = "delivery") -> str:
        wall = time.monotonic() - self.t0
        server = sum(cpu_of(p) for p in self.pids) - self.server0
        load = self_cpu() - self.load0
        outbox = sum(cpu_of(p) for p in OUTBOX_PID) - self.outbox0
        out = (f"cpu: gateways {server:.1f}s ({server / wall:.0%} of a core), load clients {load:.1f}s "
               f"({load / wall:.0%}), outbox drainer {outbox:.1f}s ({outbox / wall:.0%}) in {wall:.1f} s")
        if deliveries:
            per = server / deliveries
            out += (f"\n  gateway cpu per {unit} {per * 1e6:.0f} us = {1 / per:,.0f} per second per fully "
                    f"available gateway core (the machine is shared: see the load average above)")
        return out


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


async def open_ws(url: str):
    from websockets.asyncio.client import connect

    for attempt in range(50):
        try:
            return await connect(url, max_size=None, ping_interval=None, compression=None, open_timeout=60)
        except OSError:
            await asyncio.sleep(0.05 * (attempt + 1))
    raise RuntimeError("could not connect")


async def wait_for(ws, kind: str) -> None:
    while True:
        raw = await ws.recv()
        if f'"type":"{kind}"' in raw:
            return


async def connect_many(urls, n: int, *, parallel: int = 100, setup=None, connect=None) -> list:
    """``n`` connections (``connect``: websockets by default), ``parallel`` handshakes at a time."""
    sem = asyncio.Semaphore(parallel)
    connect = connect or open_ws

    async def one(i):
        async with sem:
            ws = await connect(urls(i))
            if setup is not None:
                await setup(ws, i)
            return ws

    return await asyncio.gather(*(one(i) for i in range(n)))


# --- scenarios ----------------------------------------------------------------------------------

async def latency(url_for, *, pairs: int, rate: float, seconds: float, make_frame, setup, on_steady=None) -> dict:
    """``pairs`` senders each send to their own receiver; total ``rate`` msg/s for ``seconds``.
    ``on_steady`` is called once the connections are up and warm (to start CPU accounting)."""
    senders = await connect_many(lambda i: url_for("s", i), pairs, setup=lambda ws, i: setup(ws, "s", i))
    receivers = await connect_many(lambda i: url_for("r", i), pairs, setup=lambda ws, i: setup(ws, "r", i))
    samples: list[float] = []

    async def receive(ws):
        async for raw in ws:
            frames = json.loads(raw)
            for frame in frames if isinstance(frames, list) else [frames]:
                if frame.get("type") == "msg":
                    t = frame["message"]["content"].get("t")
                    if t is not None and frame["message"].get("from") != "self":
                        samples.append(time.perf_counter() - t)

    drains = [asyncio.create_task(drain(ws)) for ws in senders]
    # warm-up: the first message of a pair creates the conversation; measure the steady state
    for i in range(pairs):
        await senders[i].send(make_frame(i, -1 - i, time.perf_counter()))
    for ws in receivers:
        await wait_for(ws, "msg")
    readers = [asyncio.create_task(receive(ws)) for ws in receivers]
    if on_steady is not None:
        on_steady()
    total = int(rate * seconds)
    start = time.perf_counter()
    for k in range(total):
        due = start + k / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        i = k % pairs
        await senders[i].send(make_frame(i, k, time.perf_counter()))
    sent_in = time.perf_counter() - start
    deadline = time.perf_counter() + 10
    while len(samples) < total and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    for task in readers + drains:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in senders + receivers), return_exceptions=True)
    return {"sent": total, "received": len(samples), "rate": total / sent_in,
            "p50_ms": pct(samples, 0.5) * 1000, "p90_ms": pct(samples, 0.9) * 1000,
            "p99_ms": pct(samples, 0.99) * 1000, "max_ms": max(samples, default=float("nan")) * 1000}


async def drain(ws):
    try:
        async for _ in ws:
            pass
    except Exception:
        pass


async def lean_many(url_for, n: int, *, parallel: int = 100, setup=None) -> list:
    """``n`` lean receivers (bench/wsload.py), ``parallel`` handshakes at a time."""
    return await connect_many(url_for, n, parallel=parallel, setup=setup, connect=lean_connect)


async def fanout(receivers: list, senders: list, *, messages: int, rate: float, make_frame,
                 acked: bool = True) -> dict:
    """Send ``messages`` through ``senders`` (websockets clients); count deliveries at ``receivers``
    (lean clients, each counting the message frames it received). With ``acked``, the expected
    count is what the server admitted (a chatroom sheds what exceeds its window)."""
    admitted = [0 if acked else messages]
    shed = [0]
    before = [r.messages for r in receivers]

    async def acks(ws):
        async for raw in ws:
            admitted[0] += raw.count('"status":"stored"') + raw.count('"status":"delivered"')
            shed[0] += raw.count('"status":"shed"')

    def counted() -> int:
        return sum(r.messages for r in receivers) - sum(before)

    sender_tasks = [asyncio.create_task(acks(ws) if acked else drain(ws)) for ws in senders]
    start = time.perf_counter()
    for k in range(messages):
        if rate:
            delay = start + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        await senders[k % len(senders)].send(make_frame(k))
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline:
        if admitted[0] + shed[0] >= messages and counted() >= admitted[0] * len(receivers):
            break
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - start
    for task in sender_tasks:
        task.cancel()
    per_connection = [r.messages - b for r, b in zip(receivers, before, strict=True)]
    return {"deliveries": counted(), "expected": admitted[0] * len(receivers), "shed": shed[0],
            "seconds": elapsed, "per_second": counted() / elapsed,
            "short": sum(1 for c in per_connection if c < admitted[0]),
            "extra": sum(1 for c in per_connection if c > admitted[0])}


def every(result: dict) -> str:
    if result["short"] or result["extra"]:
        return f"NOT every connection got every message once: {result['short']} short, {result['extra']} over"
    return "every connection received every admitted message once"


# --- setup of the real system --------------------------------------------------------------------

def django_setup():
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def provision(n_users: int):
    from django.utils import timezone

    from cpaas.im import services
    from cpaas.im.models import ImToken, ImUser
    from cpaas.tenants.services import tenant_provision

    stamp = int(time.time())
    p = tenant_provision(name=f"bench-{stamp}", owner_email=f"bench{stamp}@im.test", owner_password="bench-pass-123!")
    users = ImUser.objects.bulk_create([ImUser(app=p.app, tenant_id=p.tenant.pk, mode="test", user_id=f"u{i}")
                                        for i in range(n_users)], batch_size=2000)
    tokens, rows = [], []
    for u in users:
        secret = f"imtk_bench_{stamp}_{u.user_id}"
        tokens.append(secret)
        rows.append(ImToken(app=p.app, user=u, token_hash=services._hash(secret),
                            expires_at=timezone.now() + timezone.timedelta(hours=2)))
    ImToken.objects.bulk_create(rows, batch_size=2000)
    return p.app, users, tokens


def start_gateways(n: int, extra_env: dict) -> list:
    from tests.im.processes import GatewayProcess

    gateways = [GatewayProcess(os.environ["DATABASE_URL"], os.environ["REDIS_URL"], extra_env) for _ in range(n)]
    for gw in gateways:
        gw.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "cpaas.asgi:application", "--fd", str(gw.sock.fileno()),
             "--log-level", "warning", "--no-access-log", "--ws-per-message-deflate", "false",
             "--loop", "uvloop", "--http", "httptools", "--ws", WS_PROTOCOL],
            cwd=ROOT, env=gw.env, pass_fds=[gw.sock.fileno()])
    for gw in gateways:
        gw.wait_ready()
    return gateways


def start_baseline():
    from tests.im.processes import listening_socket

    sock = listening_socket()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.im:baseline_app", "--fd", str(sock.fileno()), "--log-level",
         "warning", "--no-access-log", "--ws-per-message-deflate", "false", "--loop", "uvloop"],
        cwd=ROOT, pass_fds=[sock.fileno()])
    time.sleep(1.5)
    return proc, sock


# --- main ------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default="latency,group,chatroom")
    parser.add_argument("--gateways", type=int, default=2)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--group-size", type=int, default=1000)
    parser.add_argument("--group-messages", type=int, default=200)
    parser.add_argument("--group-senders", type=int, default=10)
    parser.add_argument("--room-size", type=int, default=5000)
    parser.add_argument("--room-messages", type=int, default=100)
    parser.add_argument("--room-rate", type=float, default=150)
    parser.add_argument("--chaos", action="store_true", help="run the full chaos test (50 clients, 20,000 messages)")
    args = parser.parse_args()

    if args.chaos:
        env = {**os.environ, "IM_CHAOS_CLIENTS": "50", "IM_CHAOS_MESSAGES": "20000"}
        sys.exit(subprocess.call([sys.executable, "-m", "pytest", "tests/im/test_chaos.py", "-q", "-s"],
                                 cwd=ROOT, env=env))

    import uvloop

    django_setup()
    scenarios = args.scenarios.split(",")
    n_users = max(args.pairs * 2, args.group_size + 1 if "group" in scenarios else 0,
                  args.room_size + 1 if "chatroom" in scenarios else 0)
    print(f"provisioning {n_users} IM users ...", flush=True)
    app, users, tokens = provision(n_users)
    # load sockets do not ping; keep the heartbeat watchdog from closing them mid-run
    env = {"IM_CONNECTION_SEND_RATE": "100000", "IM_CONNECTION_SEND_BURST": "100000", "IM_HEARTBEAT_SECONDS": "3600"}
    gateways = start_gateways(args.gateways, env)
    base_proc, base_sock = start_baseline()
    base_url = f"ws://127.0.0.1:{base_sock.getsockname()[1]}/"
    pids = [gw.proc.pid for gw in gateways]
    # the webhook events and usage of every stored message are written by the outbox drainer, as
    # Celery beat does in production: part of the machine's work, so it runs during the bench
    outbox = subprocess.Popen([sys.executable, "manage.py", "im_outbox", "--interval", "0.5"], cwd=ROOT,
                              env=gateways[0].env)
    OUTBOX_PID.append(outbox.pid)
    print(f"{args.gateways} gateway processes, PostgreSQL, Redis; load from one separate process; "
          f"host load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)

    def real_url(i: int) -> str:
        return f"{gateways[i % len(gateways)].url}?token={tokens[i]}"

    async def real_setup(ws):
        await ws.send('{"type":"sync","cursors":{}}')
        await wait_for(ws, "synced")

    try:
        if "latency" in scenarios:
            uvloop.run(run_latency(args, users, real_url, real_setup, base_url, pids))
        if "group" in scenarios:
            uvloop.run(run_group(args, app, users, real_url, real_setup, base_url, pids))
        if "chatroom" in scenarios:
            uvloop.run(run_room(args, app, users, real_url, real_setup, base_url, pids))
    finally:
        for gw in gateways:
            gw.stop()
        base_proc.terminate()
        outbox.terminate()
        outbox.wait(10)
        base_proc.wait(10)


async def run_latency(args, users, real_url, real_setup, base_url, pids):
    pairs = args.pairs

    def make_real(i, k, t):
        return json.dumps({"type": "send", "to": users[pairs + i].user_id, "msg_type": "custom",
                           "client_msg_id": f"lat{k}", "content": {"t": t}})

    async def setup_real(ws, side, i):
        await real_setup(ws)

    cpus = []
    real = await latency(lambda side, i: real_url(i if side == "s" else pairs + i), pairs=pairs, rate=args.rate,
                         seconds=args.seconds, make_frame=make_real, setup=setup_real,
                         on_steady=lambda: cpus.append(Cpu(pids)))
    real_cpu = cpus[0].report(real["sent"], unit="message")
    base = await latency(lambda side, i: f"{base_url}?room=p{i}", pairs=pairs, rate=args.rate,
                         seconds=args.seconds, make_frame=lambda i, k, t: json.dumps({"content": {"t": t}}),
                         setup=lambda ws, side, i: asyncio.sleep(0))
    print(f"\n1:1 latency at {real['rate']:.0f} msg/s ({pairs} pairs, {real['received']}/{real['sent']} received):"
          f"\n  cpaas    p50 {real['p50_ms']:.1f} ms  p90 {real['p90_ms']:.1f} ms  p99 {real['p99_ms']:.1f} ms  "
          f"max {real['max_ms']:.1f} ms   (target p99 < 50 ms)"
          f"\n  baseline p50 {base['p50_ms']:.1f} ms  p99 {base['p99_ms']:.1f} ms   "
          f"ratio p99 {real['p99_ms'] / base['p99_ms']:.1f}x\n  {real_cpu}", flush=True)


async def run_group(args, app, users, real_url, real_setup, base_url, pids):
    from asgiref.sync import sync_to_async

    from cpaas.im import services

    size = args.group_size
    group = await sync_to_async(services.group_create)(app=app, mode="test", name="bench", owner_id=None,
                                                       member_ids=[u.user_id for u in users[:size]])
    receivers = await lean_many(lambda i: real_url(i), size, setup=lambda c, i: lean_setup(c))
    # senders are extra devices of the first members (each connection sends one message at a time,
    # so several members talk at once, as in a busy group)
    senders = [await _sender_for(real_url, real_setup, i) for i in range(args.group_senders)]
    cpu = Cpu(pids)
    real = await fanout(receivers, senders, messages=args.group_messages, rate=0,
                        make_frame=lambda k: json.dumps({"type": "send", "conversation_id": group.pk,
                                                         "msg_type": "text", "client_msg_id": f"g{k}",
                                                         "content": {"text": f"hello {k}"}}))
    real_cpu = cpu.report(real["deliveries"])
    await close_all(receivers, senders)
    base_receivers = await lean_many(lambda i: f"{base_url}?room=group", size)
    base_sender = await open_ws(f"{base_url}?room=group")
    base = await fanout(base_receivers, [base_sender], messages=args.group_messages, rate=0, acked=False,
                        make_frame=lambda k: json.dumps({"text": f"hello {k}"}))
    await close_all(base_receivers, [base_sender])
    print(f"\ngroup fan-out, {size} members connected, {args.group_messages} messages from {len(senders)} senders:"
          f"\n  cpaas    {real['per_second']:,.0f} deliveries/s ({real['deliveries']}/{real['expected']} in "
          f"{real['seconds']:.1f} s)   (target >= 20,000/s)"
          f"\n  {every(real)}"
          f"\n  baseline {base['per_second']:,.0f} deliveries/s   ratio {real['per_second'] / base['per_second']:.2f}"
          f"\n  {real_cpu}", flush=True)


async def lean_setup(client) -> None:
    await client.request('{"type":"sync","cursors":{}}', '"type":"synced"')


async def close_all(lean: list, websockets_clients: list) -> None:
    for client in lean:
        client.close()
    await asyncio.gather(*(ws.close() for ws in websockets_clients), return_exceptions=True)
    await asyncio.sleep(0.5)


async def _sender_for(real_url, real_setup, i):
    ws = await open_ws(real_url(i))
    await real_setup(ws)
    return ws


async def run_room(args, app, users, real_url, real_setup, base_url, pids):
    from asgiref.sync import sync_to_async

    from cpaas.im import services

    size = args.room_size
    room = await sync_to_async(services.chatroom_create)(app=app, mode="test", name="bench-room")

    async def join(ws, i):
        await real_setup(ws)
        await ws.send(json.dumps({"type": "join", "chatroom_id": room.pk}))
        await wait_for(ws, "joined")

    async def lean_join(client, i):
        await lean_setup(client)
        await client.request(json.dumps({"type": "join", "chatroom_id": room.pk}), '"type":"joined"')

    t0 = time.perf_counter()
    receivers = await lean_many(lambda i: real_url(i + 1), size, setup=lean_join)
    print(f"\n{size} chatroom members connected and joined in {time.perf_counter() - t0:.1f} s", flush=True)
    sender = await open_ws(real_url(0))
    await join(sender, 0)
    cpu = Cpu(pids)
    real = await fanout(receivers, [sender], messages=args.room_messages, rate=args.room_rate,
                        make_frame=lambda k: json.dumps({"type": "send", "conversation_id": room.pk,
                                                         "msg_type": "custom", "content": {"k": k}}))
    real_cpu = cpu.report(real["deliveries"])
    await close_all(receivers, [sender])
    base_receivers = await lean_many(lambda i: f"{base_url}?room=room", size)
    base_sender = await open_ws(f"{base_url}?room=room")
    base = await fanout(base_receivers, [base_sender], messages=args.room_messages, rate=args.room_rate, acked=False,
                        make_frame=lambda k: json.dumps({"k": k}))
    await close_all(base_receivers, [base_sender])
    print(f"\nchatroom fan-out, {size} members, {args.room_messages} messages at <= {args.room_rate:.0f}/s:"
          f"\n  cpaas    {real['per_second']:,.0f} deliveries/s ({real['deliveries']}/{real['expected']} in "
          f"{real['seconds']:.1f} s; {real['shed']} messages shed by the room's window)   (target >= 50,000/s)"
          f"\n  {every(real)}"
          f"\n  baseline {base['per_second']:,.0f} deliveries/s   ratio {real['per_second'] / base['per_second']:.2f}"
          f"\n  {real_cpu}", flush=True)


if __name__ == "__main__":
    main()
