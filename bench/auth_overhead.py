"""What API-key authentication costs: ``GET /v1/me`` against a bare DRF view, same server, same run.

    export DATABASE_URL=postgres://... REDIS_URL=redis://...   # optional: defaults as in bench/_support.py
    .venv/bin/python bench/auth_overhead.py [--rounds 7 --duration 4 --connections 16]

The script migrates the database, provisions a tenant with a key whose rate limit is out of
reach, starts gunicorn (2 sync workers, like the machine baselines) on a free loopback port,
checks that ``/v1/me`` answers 200 with the key and 401 without, warms both URLs up, then loads
them with ``wrk`` in fixed-length rounds, each round measuring both URLs back to back (order
alternating). It prints requests/second per URL (median over rounds), latency percentiles, the
ratio authenticated / bare (median of the per-round ratios) and PASS or FAIL against the target
(authenticated >= 0.8 x bare). Exit status: 0 PASS, 1 FAIL, 2 could not run. The server's own
output (its JSON access log included: production pays for it, so the bench does too) goes to
``var/bench/auth_overhead-server.log``. ``--what-if`` prices an optimisation (bench/wsgi.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import BENCH_VAR, ROOT, backends, configure_env, ensure_database, free_port, provision_key

TARGET = 0.8
BARE = "/bench/bare"
ME = "/v1/me"


@dataclass
class WrkResult:
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    requests: int
    bad_responses: int  # non-2xx/3xx plus socket errors
    cpu_us: float | None = None  # gunicorn workers' CPU time per request (user + system)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rps is None:
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    total = re.search(r"(\d+) requests in", output)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    bad = int(non2xx.group(1)) if non2xx else 0
    if sockets:
        bad += sum(int(n) for n in sockets.groups())
    return WrkResult(
        rps=float(rps.group(1)),
        p50_ms=_ms(p50.group(1)) if p50 else None,
        p99_ms=_ms(p99.group(1)) if p99 else None,
        requests=int(total.group(1)) if total else 0,
        bad_responses=bad,
    )


def run_wrk(url: str, *, duration: int, threads: int, connections: int,
            headers: dict[str, str]) -> WrkResult:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    done = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=duration + 30)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


_TICK = os.sysconf("SC_CLK_TCK")


def workers_cpu_seconds(master_pid: int) -> float:
    """CPU seconds (user + system) used so far by gunicorn's workers, read from /proc.

    Unlike requests/second, CPU per request hardly moves when other programs load the machine,
    so it cross-checks the ratio on a busy host. It leaves out Redis' own CPU (the Lua script).
    """
    try:
        children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    except OSError:
        return float("nan")
    total = 0
    for pid in children:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / _TICK


def loadavg() -> float | None:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return None


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        return exc.code, json.loads(body) if body.startswith(b"{") else {}


def start_server(port: int, workers: int, log_path: Path) -> subprocess.Popen:
    log = log_path.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "bench.wsgi:application",
         "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", "sync",
         "--backlog", "2048", "--graceful-timeout", "5"],
        cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_ready(base: str, server: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("gunicorn exited during start-up; see the server log")
        try:
            if http_get(base + BARE)[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)  # gunicorn's arbiter stops its own workers
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def check_correctness(base: str, secret: str, key_id: str) -> None:
    status, body = http_get(base + ME, {"Authorization": f"Bearer {secret}"})
    if status != 200 or body.get("key", {}).get("id") != key_id:
        raise RuntimeError(f"GET {ME} with the key gave {status} {body}, expected 200 for {key_id}")
    status, body = http_get(base + ME)
    code = body.get("error", {}).get("code")
    if status != 401 or code != "authentication_failed":
        raise RuntimeError(f"GET {ME} without a key gave {status} {body}, expected 401")
    status, body = http_get(base + ME, {"Authorization": "Bearer sk_test_" + "x" * 32})
    if status != 401:
        raise RuntimeError(f"GET {ME} with an unknown key gave {status}, expected 401")
    status, _ = http_get(base + BARE)
    if status != 200:
        raise RuntimeError(f"GET {BARE} gave {status}, expected 200")


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="measured rounds per URL")
    parser.add_argument("--duration", type=int, default=4, help="seconds per wrk round")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per URL")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--what-if", default="", metavar="CHANGES",
                        help="price an optimisation by patching the server process only: "
                             "comma-separated no-gate, no-access-log (see bench/wsgi.py)")
    args = parser.parse_args(argv)

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    console = Console()
    if shutil.which("wrk") is None:
        console.print(
            "[red]wrk is not installed.[/] This benchmark drives the server with wrk, an HTTP load "
            "generator written in C, so the client does not compete with Python for the 2 cores.\n"
            "Install it with: [bold]sudo apt-get update && sudo apt-get install -y wrk[/] "
            "(Debian/Ubuntu) or [bold]brew install wrk[/] (macOS), then run this again."
        )
        return 2

    configure_env()
    os.environ["BENCH_WHAT_IF"] = args.what_if
    import django

    django.setup()
    from django.core.management import call_command

    console.print(f"[bold]auth overhead[/]: {backends()}")
    if args.what_if:
        console.print(f"[yellow]what-if run, not the shipped code:[/] {args.what_if}")
    ensure_database()
    call_command("migrate", verbosity=0, interactive=False)
    key = provision_key()
    from django.db import connections

    connections.close_all()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = BENCH_VAR / "auth_overhead-server.log"
    load_before = loadavg()
    server = start_server(port, args.workers, log_path)
    auth = {"Authorization": f"Bearer {key.secret}"}
    targets = {BARE: {}, ME: auth}
    rounds: dict[str, list[WrkResult]] = {BARE: [], ME: []}
    wrk = {"threads": args.threads, "connections": args.connections}
    try:
        wait_ready(base, server)
        check_correctness(base, key.secret, key.key_id)
        console.print(f"correctness: {ME} → 200 with the key, 401 without or with an unknown key")
        total = 2 + 2 * args.rounds
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=console, transient=True) as progress:
            task = progress.add_task("warming up", total=total)
            for path, headers in targets.items():
                progress.update(task, description=f"warm-up {path}")
                run_wrk(base + path, duration=args.warmup, headers=headers, **wrk)
                progress.advance(task)
            for n in range(args.rounds):
                # Alternate which URL goes first, so drift on a shared machine hits both alike.
                order = [BARE, ME] if n % 2 == 0 else [ME, BARE]
                for path in order:
                    progress.update(task, description=f"round {n + 1}/{args.rounds} {path}")
                    cpu_before = workers_cpu_seconds(server.pid)
                    result = run_wrk(base + path, duration=args.duration, headers=targets[path], **wrk)
                    cpu = workers_cpu_seconds(server.pid) - cpu_before
                    if result.requests and cpu == cpu:  # nan when /proc is not there
                        result.cpu_us = cpu * 1e6 / result.requests
                    rounds[path].append(result)
                    progress.advance(task)
    except RuntimeError as exc:
        console.print(f"[red]could not run:[/] {exc}\nserver log: {log_path}")
        return 2
    finally:
        stop_server(server)

    table = Table(title=f"{args.rounds} rounds x {args.duration} s, wrk {args.threads} threads / "
                        f"{args.connections} connections, gunicorn {args.workers} sync workers")
    table.add_column("round")
    for path in (BARE, ME):
        table.add_column(f"{path} req/s", justify="right")
    table.add_column("ratio", justify="right")
    for n in range(args.rounds):
        bare, me = rounds[BARE][n].rps, rounds[ME][n].rps
        table.add_row(str(n + 1), f"{bare:,.0f}", f"{me:,.0f}", f"{me / bare:.3f}")
    summary = {
        path: {
            "rps_median": median([r.rps for r in results]),
            "rps_rounds": [r.rps for r in results],
            "p50_ms_median": median([r.p50_ms for r in results]),
            "p99_ms_median": median([r.p99_ms for r in results]),
            "cpu_us_median": median([r.cpu_us for r in results]),
            "requests": sum(r.requests for r in results),
            "bad_responses": sum(r.bad_responses for r in results),
        }
        for path, results in rounds.items()
    }
    # Each round measures both URLs back to back, so a round's ratio is immune to the slow drift
    # of a shared machine; the verdict uses the median of those paired ratios.
    round_ratios = [m.rps / b.rps for b, m in zip(rounds[BARE], rounds[ME], strict=True)]
    ratio = statistics.median(round_ratios)
    ratio_of_medians = summary[ME]["rps_median"] / summary[BARE]["rps_median"]
    table.add_row("median", f"{summary[BARE]['rps_median']:,.0f}", f"{summary[ME]['rps_median']:,.0f}",
                  f"{ratio:.3f}", style="bold")
    console.print(table)
    latency = Table(title="latency, worker CPU per request (medians over rounds), totals")
    for column in ("url", "p50", "p99", "CPU/request", "requests", "errors"):
        latency.add_column(column, justify="left" if column == "url" else "right")
    for path in (BARE, ME):
        s = summary[path]
        cpu = "n/a" if s["cpu_us_median"] is None else f"{s['cpu_us_median']:.0f} µs"
        latency.add_row(path, fmt_ms(s["p50_ms_median"]), fmt_ms(s["p99_ms_median"]), cpu,
                        f"{s['requests']:,}", str(s["bad_responses"]))
    console.print(latency)
    load_after = loadavg()
    cpu_ratio = None
    if summary[BARE]["cpu_us_median"] and summary[ME]["cpu_us_median"]:
        cpu_ratio = summary[BARE]["cpu_us_median"] / summary[ME]["cpu_us_median"]
        console.print(f"cross-check: bare CPU / authenticated CPU per request = {cpu_ratio:.3f} "
                      "(workers only, Redis' CPU not counted)")
    cores = os.cpu_count() or 1
    busy = False
    if load_before is not None and load_after is not None:
        busy = max(load_before, load_after) > cores
        note = " [yellow]busier than its cores: req/s figures are noisy[/]" if busy else ""
        console.print(f"load average {load_before:.1f} before, {load_after:.1f} after, "
                      f"{cores} cores{note}")
    errors = summary[BARE]["bad_responses"] + summary[ME]["bad_responses"]
    passed = ratio >= TARGET and errors == 0
    verdict = "[bold green]PASS[/]" if passed else "[bold red]FAIL[/]"
    if busy:
        verdict += " [yellow](unreliable: the machine was busier than its cores; rerun when quiet)[/]"
    console.print(f"ratio = median of the per-round ratios ({min(round_ratios):.3f} to "
                  f"{max(round_ratios):.3f}); ratio of the median req/s: {ratio_of_medians:.3f}")
    console.print(f"ratio authenticated / bare = {ratio:.3f} (target ≥ {TARGET}): {verdict}")
    if errors:
        console.print(f"[red]{errors} requests failed (non-2xx or socket errors): the figures are not valid[/]")
    if args.json:
        args.json.write_text(json.dumps({
            "ratio": ratio, "round_ratios": round_ratios, "ratio_of_medians": ratio_of_medians,
            "cpu_ratio": cpu_ratio, "loadavg": [load_before, load_after], "reliable": not busy,
            "target": TARGET, "passed": passed, "backends": backends(),
            "settings": vars(args) | {"json": str(args.json)}, "urls": summary,
            "rounds": {p: [asdict(r) for r in rs] for p, rs in rounds.items()},
        }, indent=2))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
