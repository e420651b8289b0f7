"""How many calls the voice engine drives at once, how fast it sets them up, how fast it fetches.

    export DATABASE_URL=postgres://... REDIS_URL=redis://...
    .venv/bin/python bench/voice.py [--calls 500 --rate 50 --talk 30 --fetch-calls 50 --fetches 40]

Part 1, concurrent calls. ``--calls`` outbound calls are accepted through the service (the rows
the API writes), then handed to one engine (one event loop, its database thread pool, the
sandbox network in real time) at ``--rate`` calls/s, as the voice-queue task does: claim the
row, submit. Each callee answers after 1 s setup + 3 s ringing and hangs up ``--talk`` s later,
so at ``--rate`` 50 and 500 calls (10 s of arrivals), all 500 are up at once for ~``talk - 10`` s. Call setup is
measured from the moment the call was due to be handed over to the INVITE reaching the network
(any lag of the loop, the claim and the load; the `initiated` writes run beside the INVITE);
the peak of answered calls up at once is sampled every 100 ms. Baseline:
the same calls on the bare sandbox network (no engine, no database) in the same run.

Part 2, call-control document fetches. ``--fetch-calls`` calls each fetch ``--fetches``
documents from a local uvicorn server (a raw ASGI app in a child process), every document a
``<Redirect>`` to the next; fetches/s counts every signed POST, its parse and its log row,
through the workers' client (SSRF-guarded, kept-alive, one small pool per origin); with the
engine process's CPU per fetch. Baseline: the same number of bare ``httpx`` POSTs to the same
server with the same concurrency, on one pool of the same size.

Prints the figures and the ratios to the baselines; PASS when ≥ 500 calls were up at once with
setup p99 < 200 ms. Exit status 0 PASS, 1 FAIL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cpaas.settings")
os.environ.setdefault("SECRET_KEY", "bench-" + secrets.token_urlsafe(32))
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("ACCESS_LOG_LEVEL", "WARNING")
os.environ.setdefault("EGRESS_ALLOWED_CIDRS", "127.0.0.0/8")  # the SSRF guard's allow-list: docs on loopback

DOC_SERVER = r'''
import json

counts = {}

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    call_id = json.loads(body or b"{}").get("call_id", "")
    limit = int(scope["path"].rsplit("/", 1)[-1])
    counts[call_id] = counts.get(call_id, 0) + 1
    if counts[call_id] >= limit:
        doc = b"<Response><Hangup/></Response>"
    else:
        doc = b"<Response><Redirect>/doc/%d</Redirect></Response>" % limit
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/xml")]})
    await send({"type": "http.response.body", "body": doc})
'''


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def setup_django():
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def provision():
    from cpaas.tenants.keys import KeyPrincipal
    from cpaas.tenants.services import tenant_provision

    provisioned = tenant_provision(name=f"voice bench {secrets.token_hex(3)}")
    return KeyPrincipal(key_id="key_bench", app_id=provisioned.app.id, tenant_id=provisioned.tenant.id,
                        mode="test", access="full", products=(), rate=10**6, burst=10**6, expires_at=None)


def create_calls(principal, count: int, *, instructions: str | None = None, url: str | None = None,
                 to: str = "+12025550123") -> tuple[list[str], float]:
    from cpaas.voice.services import call_create

    started = time.perf_counter()
    ids = [call_create(principal=principal, to=to, from_="+15005559000", instructions=instructions, url=url,
                       enqueue=False).id for _ in range(count)]
    return ids, count / (time.perf_counter() - started)


class TimedNetwork:
    """The sandbox network, noting when each INVITE arrives and how many answered calls are up."""

    def __new__(cls, clock):
        from cpaas.carriers.sandbox import SandboxVoiceConnector

        class _Timed(SandboxVoiceConnector):
            def __init__(self, *, clock):
                super().__init__(clock=clock)
                self.invites: dict[str, float] = {}

            async def originate(self, *, leg_id, **kwargs):
                self.invites[leg_id] = time.perf_counter()
                return await super().originate(leg_id=leg_id, **kwargs)

            def up(self) -> int:
                return sum(1 for leg in self._legs.values()
                           if leg.answered_at is not None and leg.ended is not None and not leg.ended.done())

        return _Timed(clock=clock)


async def sample_peak(network, stop: asyncio.Event) -> int:
    peak = 0
    while not stop.is_set():
        peak = max(peak, network.up())
        await asyncio.sleep(0.1)
    return peak


async def drive_engine(call_ids: list[str], rate: float, talk: int, runners: int) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from asgiref.sync import sync_to_async

    from cpaas.carriers.clock import RealClock
    from cpaas.carriers.sandbox.voice import LegScript
    from cpaas.voice import conf
    from cpaas.voice.engine import CallEngine
    from cpaas.voice.groupcommit import GroupCommitter
    from cpaas.voice.models import CallLeg

    # The same thread pool for reads as a worker's engine (cpaas/voice/runtime.py).
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(conf.VOICE_ENGINE_DB_THREADS))
    clock = RealClock()
    network = TimedNetwork(clock)
    network.script("+12025550123", LegScript(hangup_after=float(talk)))
    async with httpx.AsyncClient() as http:
        engine = CallEngine(clock=clock, connector_for=lambda mode: network, http=http, db_thread_sensitive=False,
                            group_commit=True)
        if runners:
            engine.committer = GroupCommitter(runners=runners)
        leg_of = dict(await sync_to_async(lambda: list(
            CallLeg.objects.filter(call_id__in=call_ids, role="a").values_list("call_id", "id")))())
        handed: dict[str, float] = {}
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_peak(network, stop))
        runs = []
        cpu = time.process_time()
        started = time.perf_counter()
        for index, call_id in enumerate(call_ids):
            due = started + index / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            # Setup counts from when the call was due, so a loop that falls behind shows up in it.
            handed[call_id] = due

            # claim=True: the claim the voice-queue task makes, in the same database hop as the load.
            runs.append(asyncio.create_task(engine.run_call(call_id, claim=True)))
        statuses = await asyncio.gather(*runs)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        stop.set()
        peak = await sampler
        batches, items = engine.committer.batches, engine.committer.items
    setups = [(network.invites[leg_of[cid]] - handed[cid]) * 1000 for cid in call_ids if leg_of[cid] in network.invites]
    return {"peak_up": peak, "setup_ms": setups, "elapsed": elapsed, "batches": batches, "items": items,
            "cpu_ms_per_call": cpu * 1000 / len(call_ids),
            "completed": sum(1 for s in statuses if s == "completed")}


async def drive_bare(count: int, rate: float, talk: int) -> dict:
    """The baseline: the same calls on the bare sandbox network, no engine, no database."""
    from cpaas.carriers.clock import RealClock
    from cpaas.carriers.sandbox.voice import LegScript

    clock = RealClock()
    network = TimedNetwork(clock)
    network.script("+12025550123", LegScript(hangup_after=float(talk)))
    handed: dict[str, float] = {}

    async def noop(event):
        return None

    async def call(leg_id: str):
        await network.originate(leg_id=leg_id, to="+12025550123", from_="+15005559000", timeout=30,
                                on_ringing=noop)
        await network.wait_hangup(leg_id)

    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_peak(network, stop))
    runs = []
    started = time.perf_counter()
    for index in range(count):
        due = started + index / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        leg_id = f"leg_{index}"
        handed[leg_id] = due
        runs.append(asyncio.create_task(call(leg_id)))
    await asyncio.gather(*runs)
    stop.set()
    peak = await sampler
    return {"peak_up": peak, "setup_ms": [(network.invites[k] - v) * 1000 for k, v in handed.items()]}


async def fetch_engine(call_ids: list[str]) -> dict:
    from cpaas.carriers.clock import RealClock
    from cpaas.carriers.sandbox.voice import LegScript
    from cpaas.voice.engine import CallEngine
    from cpaas.voice.urlguard import TenantClients

    clock = RealClock(speed=10)  # call setup takes 0.1 s: fetches dominate
    network = TimedNetwork(clock)
    network.script("+12025550123", LegScript(ring_seconds=0.001))
    # The workers' client: SSRF-guarded (pinned addresses), keep-alive, one small pool per origin.
    http = TenantClients()
    engine = CallEngine(clock=clock, connector_for=lambda mode: network, http=http, db_thread_sensitive=False,
                        group_commit=True)
    cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(engine.run_call(call_id) for call_id in call_ids))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    await http.aclose()
    return {"fetches": engine.fetches, "elapsed": elapsed, "cpu": cpu}


async def fetch_bare(url: str, calls: int, fetches: int, connections: int) -> dict:
    import httpx

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits) as http:
        async def one(index: int):
            for _ in range(fetches):
                response = await http.post(url, content=json.dumps({"call_id": f"bare_{index}"}))
                response.raise_for_status()

        cpu = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(calls)))
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    return {"fetches": calls * fetches, "elapsed": elapsed, "cpu": cpu}


def start_doc_server(port: int) -> subprocess.Popen:
    app_dir = ROOT / "var" / "bench"
    app_dir.mkdir(parents=True, exist_ok=True)
    (app_dir / "voice_docs.py").write_text(DOC_SERVER)
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "voice_docs:app", "--port", str(port), "--log-level", "warning",
         "--no-access-log", "--app-dir", str(app_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.1)
    raise RuntimeError("the document server did not start")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--talk", type=int, default=30)
    parser.add_argument("--fetch-calls", type=int, default=50)
    parser.add_argument("--fetches", type=int, default=40)
    parser.add_argument("--runners", type=int, default=None, help="group-commit runner threads (default: conf)")
    parser.add_argument("--switch-interval", type=float, default=None, help="sys.setswitchinterval (s)")
    parser.add_argument("--gc-freeze", action="store_true", help="freeze start-up objects, rarer collections")
    args = parser.parse_args()
    if args.gc_freeze:
        import gc

        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 50, 50)
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)

    setup_django()
    from django.conf import settings

    from cpaas.voice import conf

    conf.VOICE_MAX_FETCHES_PER_CALL = max(conf.VOICE_MAX_FETCHES_PER_CALL, args.fetches + 1)
    print(f"database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]} "
          f"({settings.DATABASES['default']['NAME']}), cores: {os.cpu_count()}")
    principal = provision()
    document = '<Response><Say>Hello from the bench</Say><Pause length="600"/></Response>'
    ids, create_rate = create_calls(principal, args.calls, instructions=document)
    print(f"accepted {args.calls} calls through the service at {create_rate:,.0f}/s")

    engine = asyncio.run(drive_engine(ids, args.rate, args.talk, args.runners))
    bare = asyncio.run(drive_bare(args.calls, args.rate, args.talk))
    p50, p95, p99 = (percentile(engine["setup_ms"], q) for q in (0.5, 0.95, 0.99))
    b99 = percentile(bare["setup_ms"], 0.99)
    print(f"\nconcurrent calls (one engine, sandbox network in real time, {args.rate:g} calls/s offered, "
          f"{args.talk} s talk)")
    print(f"  peak answered calls up at once: engine {engine['peak_up']}, bare network {bare['peak_up']}")
    print(f"  completed: {engine['completed']}/{args.calls} in {engine['elapsed']:.1f} s; "
          f"{engine['items']} writes in {engine['batches']} group commits; "
          f"engine process CPU {engine['cpu_ms_per_call']:.1f} ms per call (all threads)")
    print(f"  call setup (due → INVITE) ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}  "
          f"max {max(engine['setup_ms']):.1f}")
    print(f"  bare network setup ms: p50 {percentile(bare['setup_ms'], 0.5):.2f}  p99 {b99:.2f}  "
          f"(engine p99 / bare p99 = {p99 / max(b99, 0.001):,.0f}x; the engine's setup is database work)")

    if args.fetch_calls:
        report_fetches(principal, args)
    ok = engine["peak_up"] >= 500 and p99 < 200
    print(f"\n{'PASS' if ok else 'FAIL'}: {engine['peak_up']} calls up at once (target >= 500), "
          f"setup p99 {p99:.1f} ms (target < 200 ms)")
    return 0 if ok else 1


def report_fetches(principal, args) -> None:
    port = free_port()
    server = start_doc_server(port)
    try:
        url = f"http://127.0.0.1:{port}/doc/{args.fetches}"
        fetch_ids, _ = create_calls(principal, args.fetch_calls, url=url)
        fetched = asyncio.run(fetch_engine(fetch_ids))
        from cpaas.voice import conf

        raw = asyncio.run(fetch_bare(url.replace(f"/doc/{args.fetches}", "/doc/1000000"), args.fetch_calls,
                                     args.fetches, conf.VOICE_FETCH_CONNECTIONS_PER_ORIGIN))
    finally:
        server.terminate()
        server.wait(10)
    from cpaas.voice.models import Call

    errors = Call.objects.filter(pk__in=fetch_ids).exclude(error_code="").count()
    engine_rate = fetched["fetches"] / fetched["elapsed"]
    raw_rate = raw["fetches"] / raw["elapsed"]
    print(f"\ncall-control document fetches ({args.fetch_calls} calls x {args.fetches} documents, uvicorn server)")
    print(f"  engine: {fetched['fetches']} fetches in {fetched['elapsed']:.1f} s = {engine_rate:,.0f} fetches/s "
          f"(signed POST, parse, run, one log row each); calls ended by a fetch error: {errors}; "
          f"engine process CPU {fetched['cpu'] * 1000 / max(fetched['fetches'], 1):.2f} ms per fetch")
    print(f"  bare httpx POSTs to the same server (one pool of the same size): {raw_rate:,.0f}/s, "
          f"{raw['cpu'] * 1000 / raw['fetches']:.2f} ms CPU each (engine / bare = {engine_rate / raw_rate:.2f})")


if __name__ == "__main__":
    sys.exit(main())
