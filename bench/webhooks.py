"""Webhook delivery benchmark: real Celery workers, Redis, PostgreSQL and a local uvicorn receiver.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python bench/webhooks.py [--events 20000]

Scenarios (issue 3 targets on a 2-core machine):
  baseline    a bare httpx.AsyncClient loop POSTing to the same receiver (the HTTP ceiling here)
  throughput  20,000 published events drained by 2 Celery worker processes → deliveries/s (≥ 1,500)
  latency     events published at 500/s → publish-to-receipt p50/p99 (p99 < 250 ms)
  isolation   the throughput run again with an extra endpoint that sleeps 10 s on every request →
              healthy deliveries/s must drop by ≤ 10 % (--bracket: and alone once more after it,
              compared with the mean of both alone runs)
It WIPES the webhooks tables of the database it is given: point it at a scratch database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._support import descendants, machine_busy, proc_cpu  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cpaas.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["EGRESS_ALLOWED_CIDRS"] = "127.0.0.0/8"


# --- the receiver (run in its own process) ----------------------------------------------------------

def receiver_app():
    receipts: list[tuple[str, str, float]] = []

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path = scope["path"]
        if scope["method"] == "GET":
            if path == "/reset":
                receipts.clear()
                body = b"{}"
            else:
                body = json.dumps(receipts).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        webhook_id = ""
        for name, value in scope["headers"]:
            if name == b"webhook-id":
                webhook_id = value.decode()
                break
        receipts.append((webhook_id, path, time.time()))
        if path == "/slow":
            await asyncio.sleep(10)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def serve_receiver(port: int) -> None:
    import uvicorn

    uvicorn.run(receiver_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False,
                http="httptools", loop="uvloop", backlog=4096)


# --- helpers -----------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def wait_for_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def start_workers(concurrency: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "cpaas", "worker", "-Q", "webhooks", "-c", str(concurrency),
         "-n", f"bench-{uuid.uuid4().hex[:6]}@%h", "-B", "-s", f"/tmp/bench-webhooks-beat-{os.getpid()}",
         "--without-gossip", "--without-mingle", "--loglevel=WARNING"],
        cwd=ROOT, env=os.environ.copy(), start_new_session=True,
    )


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def wait_workers_ready(timeout: float = 60) -> None:
    from django.core.cache import cache

    from cpaas.core.tasks import ping

    token = uuid.uuid4().hex
    for _ in range(4):
        ping.apply_async(args=[token], queue="webhooks")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cache.get(f"cpaas:ping:{token}") == "pong":
            return
        time.sleep(0.2)
    raise RuntimeError("workers did not start")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and all its descendants, from /proc."""
    return proc_cpu(descendants(pid))


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


# --- scenarios ------------------------------------------------------------------------------------

def baseline(port: int, n: int, concurrency: int = 64) -> tuple[float, float]:
    import httpx

    async def go() -> float:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits) as client:
            queue = list(range(n))

            async def worker():
                while queue:
                    queue.pop()
                    await client.post(f"http://127.0.0.1:{port}/baseline", content=b'{"x":1}',
                                      headers={"webhook-id": "baseline"})

            started, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return n / (time.perf_counter() - started), (time.process_time() - cpu) / n * 1000

    return asyncio.run(go())


def wipe() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE webhooks_attempt, webhooks_delivery, webhooks_event, webhooks_subjectsequence")


def publish_batches(app, n: int, tag: str, *, batch: int = 500) -> None:
    """Publish n events with webhooks.publish_many, a transaction per batch (as SMS settles)."""
    from django.db import transaction

    from webhooks import publish_many

    for start in range(0, n, batch):
        with transaction.atomic():
            publish_many(app, [("message.sent", {"id": f"msg_{tag}_{i}", "to": "+15550100"}, f"{tag}-{i}")
                               for i in range(start, min(n, start + batch))], livemode=False)


def drain(app, port: int, n: int, tag: str, *, healthy_paths: set[str], concurrency: int,
          receiver_pid: int) -> dict:
    """Publish n events while no worker runs, then start the workers and time the drain.

    The rate is measured between the first and the last receipt at the healthy endpoint(s), so
    worker start-up is not counted, and publishing (one process, publish_many with a transaction
    per 500 events) is measured on its own.
    """
    from webhooks import services

    http_get(f"http://127.0.0.1:{port}/reset")
    real_kick = services.dispatch_kick
    services.dispatch_kick = lambda: None  # no worker listens yet; don't pile up tasks
    try:
        t0 = time.perf_counter()
        publish_batches(app, n, tag)
        publish_rate = n / (time.perf_counter() - t0)
    finally:
        services.dispatch_kick = real_kick
    receiver_cpu = cpu_seconds(receiver_pid)
    busy0 = machine_busy()
    workers = start_workers(concurrency)  # beat (-B) starts a dispatcher at once
    cpu = 0.0
    try:
        expected = n * len(healthy_paths)
        deadline = time.monotonic() + 900
        receipts: list = []
        while time.monotonic() < deadline:
            time.sleep(1.0)
            receipts = [r for r in http_get(f"http://127.0.0.1:{port}/stats") if r[1] in healthy_paths]
            if len({(r[0], r[1]) for r in receipts}) >= expected:
                break
        cpu = cpu_seconds(workers.pid)
        receiver_cpu = cpu_seconds(receiver_pid) - receiver_cpu
        busy1 = machine_busy()
    finally:
        stop(workers)
    times = sorted(r[2] for r in receipts)
    unique = len({(r[0], r[1]) for r in receipts})
    return {
        "events": n, "healthy_deliveries": unique, "duplicates": len(receipts) - unique,
        "publish_per_s": publish_rate, "deliveries_per_s": unique / max(1e-9, times[-1] - times[0]),
        "worker_cpu_ms": cpu / max(1, unique) * 1000,
        "receiver_cpu_ms": receiver_cpu / max(1, len(receipts)) * 1000,
        "receiver_cpu_share": receiver_cpu / max(1e-9, times[-1] - times[0] + 1.0),
        # the whole machine (all sessions) from worker start to the last check
        "machine_busy": (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]),
    }


def _publisher(app_id: str, tag: str, k: int, publishers: int, total: int, rate: float, started: float, out,
               batch: int = 1) -> None:
    """One publisher process: events k, k+publishers, … on schedule, ``batch`` events per
    transaction (1: ``publish``, as a single send does; more: ``publish_many``, as the SMS settle
    path and the IM outbox do)."""
    import django

    django.setup()
    from django.db import transaction

    from webhooks import publish, publish_many

    share = rate / publishers
    published = []
    mine = list(range(k, total, publishers))
    for start in range(0, len(mine), batch):
        items = mine[start:start + batch]
        pause = started + (items[-1] // publishers) / share - time.time()
        if pause > 0:
            time.sleep(pause)
        with transaction.atomic():
            if batch == 1:
                i = items[0]
                events = [publish(app_id, "message.sent", {"id": f"msg_{tag}_{i}"}, idempotency_key=f"{tag}-{i}",
                                  livemode=False)]
            else:
                events = publish_many(app_id, [("message.sent", {"id": f"msg_{tag}_{i}"}, f"{tag}-{i}")
                                               for i in items], livemode=False)
            at = time.time()  # the publish call returned; the commit is counted in the latency
        published.extend((event.id, at) for event in events)
    out.put(published)


def latency(app, port: int, rate: int, seconds: float, tag: str, publishers: int = 8, batch: int = 1) -> dict:
    """Publish at ``rate`` events/s (one event per transaction, as a channel does) from a few
    processes (as the platform's web and worker processes do), and measure publish-to-receipt
    time at the receiver."""
    import multiprocessing

    from django.db import connection

    http_get(f"http://127.0.0.1:{port}/reset")
    total = int(rate * seconds)
    connection.close()  # not shared with the children
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    started = time.time() + 1.0
    procs = [context.Process(target=_publisher, args=(app.id, tag, k, publishers, total, rate, started, out, batch))
             for k in range(publishers)]
    for proc in procs:
        proc.start()
    published: dict[str, float] = {}
    for _ in procs:
        published.update(out.get())
    for proc in procs:
        proc.join()
    achieved = total / (max(published.values()) - started)
    deadline = time.monotonic() + 120
    receipts: list = []
    while time.monotonic() < deadline:
        time.sleep(1.0)
        receipts = http_get(f"http://127.0.0.1:{port}/stats")
        if len({r[0] for r in receipts}) >= total:
            break
    first: dict[str, float] = {}
    for webhook_id, _path, at in receipts:
        first.setdefault(webhook_id, at)
    lat = [(first[i] - published[i]) * 1000 for i in published if i in first]
    return {"events": total, "received": len(lat), "rate": achieved,
            "p50_ms": statistics.median(lat), "p99_ms": pct(lat, 0.99), "max_ms": max(lat)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--latency-seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--publishers", type=int, default=8, help="publisher processes in the latency phase")
    parser.add_argument("--batch", type=int, default=1,
                        help="events per publishing transaction in the latency phase (>1: publish_many)")
    parser.add_argument("--phases", default="throughput,latency,isolation")
    parser.add_argument("--bracket", action="store_true",
                        help="isolation: drain the healthy endpoint alone again after the sleeper's run and "
                             "compare with the mean of both alone runs")
    parser.add_argument("--serve-receiver", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    if args.serve_receiver:
        serve_receiver(args.serve_receiver)
        return

    import django

    django.setup()
    from django.core.management import call_command

    from cpaas.celery import app as celery_app
    from cpaas.tenants.services import tenant_provision
    from webhooks.services import endpoint_create

    call_command("migrate", verbosity=0)
    wipe()
    celery_app.control.purge()
    port = free_port()
    receiver = subprocess.Popen([sys.executable, __file__, "--serve-receiver", str(port)], cwd=ROOT,
                                start_new_session=True)  # its own group, so stop() ends it
    wait_for_port(port)
    try:
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
        for concurrency in (64, 10):
            base, base_cpu = baseline(port, 5000, concurrency)
            print(f"baseline: bare httpx.AsyncClient ({concurrency} concurrent) → receiver: {base:,.0f} requests/s, "
                  f"{base_cpu:.2f} ms of client CPU per request")

        phases = set(args.phases.split(","))
        app = tenant_provision(name=f"bench-{uuid.uuid4().hex[:6]}").app
        healthy = endpoint_create(app_id=app.id, mode="test", url=f"http://127.0.0.1:{port}/healthy").endpoint
        result = {"deliveries_per_s": float("nan")}
        if phases & {"throughput", "isolation"}:
            result = drain(app, port, args.events, "t", healthy_paths={"/healthy"}, concurrency=args.concurrency,
                           receiver_pid=receiver.pid)
            print(f"throughput: {result['events']:,} events published at {result['publish_per_s']:,.0f}/s; "
                  f"{result['healthy_deliveries']:,} delivered by {args.concurrency} worker processes at "
                  f"{result['deliveries_per_s']:,.0f} deliveries/s ({result['deliveries_per_s'] / base:.2f}x the bare "
                  f"httpx baseline; target ≥ 1,500/s); duplicates: {result['duplicates']}; worker CPU "
                  f"{result['worker_cpu_ms']:.2f} ms per delivery (incl. worker start-up), i.e. a ceiling of about "
                  f"{2000 / result['worker_cpu_ms']:,.0f}/s on 2 idle cores for the workers alone; receiver (uvicorn) "
                  f"{result['receiver_cpu_ms']:.3f} ms CPU per request, {result['receiver_cpu_share']:.0%} of one core "
                  f"during the drain")

        if "latency" in phases:
            workers = start_workers(args.concurrency)
            try:
                wait_workers_ready()
                time.sleep(2)
                lat = latency(app, port, args.rate, args.latency_seconds, "l", args.publishers, args.batch)
            finally:
                stop(workers)
            print(f"latency at {lat['rate']:,.0f} events/s (asked {args.rate}/s): p50 {lat['p50_ms']:.0f} ms, "
                  f"p99 {lat['p99_ms']:.0f} ms, max {lat['max_ms']:.0f} ms over {lat['received']:,}/{lat['events']:,} "
                  f"events from {args.publishers} publisher processes, "
                  + ("one transaction per event" if args.batch == 1 else f"{args.batch} events per transaction")
                  + " (target p99 < 250 ms)")

        if "isolation" not in phases:
            return
        wipe()
        slow = endpoint_create(app_id=app.id, mode="test", url=f"http://127.0.0.1:{port}/slow").endpoint
        isolated = drain(app, port, args.events, "i", healthy_paths={"/healthy"}, concurrency=args.concurrency,
                         receiver_pid=receiver.pid)
        drop = 1 - isolated["deliveries_per_s"] / result["deliveries_per_s"]
        print(f"isolation: with a second endpoint that sleeps 10 s on every request, healthy deliveries "
              f"{isolated['deliveries_per_s']:,.0f}/s vs {result['deliveries_per_s']:,.0f}/s alone "
              f"({'drop' if drop > 0 else 'no drop: rate up'} {abs(drop):.1%}; target: drop ≤ 10 %); worker CPU "
              f"{isolated['worker_cpu_ms']:.2f} vs {result['worker_cpu_ms']:.2f} ms per healthy delivery; machine "
              f"busy {isolated['machine_busy']:.0%} vs {result['machine_busy']:.0%}")
        from webhooks.models import Endpoint

        Endpoint.objects.filter(pk=slow.pk).update(enabled=False)
        if args.bracket:
            # The healthy endpoint alone once more, after the sleeper's run: the sleeper's run is
            # compared with the mean of the two alone runs around it, so a drift of the machine
            # (or a warm-up favouring the later run) does not read as isolation or its absence.
            wipe()
            again = drain(app, port, args.events, "a", healthy_paths={"/healthy"}, concurrency=args.concurrency,
                          receiver_pid=receiver.pid)
            alone = (result["deliveries_per_s"] + again["deliveries_per_s"]) / 2
            drop = 1 - isolated["deliveries_per_s"] / alone
            print(f"isolation, bracketed: alone {result['deliveries_per_s']:,.0f}/s, with the sleeper "
                  f"{isolated['deliveries_per_s']:,.0f}/s, alone again {again['deliveries_per_s']:,.0f}/s: "
                  f"{'drop' if drop > 0 else 'no drop: rate up'} {abs(drop):.1%} against the mean of the alone runs "
                  f"(target: drop ≤ 10 %); machine busy {again['machine_busy']:.0%} in the last")
        Endpoint.objects.filter(pk=healthy.pk).update(enabled=False)
        print(f"machine: load average {os.getloadavg()[0]:.1f} at the end")
    finally:
        stop(receiver)

if __name__ == "__main__":
    main()
