"""The per-message SMS scenario: single sends the way Twilio users send them, counted at the final
status callback (issue 14).

``wrk`` keeps 16 connections in a closed loop (each sends its next request when the answer to the
last arrives), every request one ``POST /v1/messages`` with its own ``status_callback``. Its Lua
script stamps each request with the wall-clock time (LuaJIT's FFI, ``gettimeofday``) inside the
message body, which the answer echoes, and writes ``<id> <requested ms> <answered ms>`` per answer
to a file of its thread: wrk's C loop drives the server, not a Python client that would compete
with it for the two cores. The chain is ``bench/sms_chain.py``'s deployment with the SMSC answering
each submit with a receipt 1 s later; the receiver verifies every signature and records its
``webhook-id``. The run reports the steady window (after the first quarter, or after the receipt
delay and 2 s, whichever is later, until wrk stops), then waits for the last callbacks to count
losses and duplicates. In the same run, before the chain starts, wrk drives a bare DRF view that
inserts one row (``/bench/sms-bare``) on the same gunicorn: the baseline beside the figures.

    python bench/sms.py --scenario per-message --seconds 20
"""

from __future__ import annotations

import collections
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench._support import run, wrk
from bench.sms_chain import Chain, ChainCpu, callback_secret_rotate, warm_up

CONNECTIONS = 16
FINAL = "message.delivered"
TARGETS = {"accepted": 1200.0, "callbacks": 1000.0, "cpu_total_ms": 1.6, "lost": 0, "doubled": 0}

PER_MESSAGE_LUA = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_usec; } bench_timeval;
int gettimeofday(bench_timeval *tv, void *tz);
]]
local tv = ffi.new("bench_timeval")
local function now_ms()
  ffi.C.gettimeofday(tv, nil)
  return string.format("%%d", tonumber(tv.tv_sec) * 1000 + math.floor(tonumber(tv.tv_usec) / 1000))
end

local count = 0
function setup(thread)
  count = count + 1
  thread:set("tid", count)
end

local out
local sent = 0
function init(args)
  out = io.open("%(outdir)s/driver-" .. tid .. ".txt", "w")
  out:setvbuf("line")
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(secret)s"

function request()
  sent = sent + 1
  local to = string.format("+1202555%%04d", (sent * 16 + tid) %% 10000)
  local body = '{"to":"' .. to .. '","from":"Acme","body":"Your code is ' .. tid .. '-' .. sent .. ' t' .. now_ms() ..
    '","status_callback":"%(callback)s"%(extra)s}'
  return wrk.format(nil, "/v1/messages", nil, body)
end

function response(status, headers, body)
  local id = string.match(body, '"id"%%s*:%%s*"([^"]+)"')
  if status >= 200 and status < 300 and id then
    local answered = now_ms()
    out:write(id, " ", string.match(body, " t(%%d+)\\"") or answered, " ", answered, "\\n")
  else
    out:write("ERR ", status, " ", (string.gsub(string.sub(body, 1, 160), "%%s", " ")), "\\n")
  end
end
"""


def per_message_lua(*, secret: str, callback: str, outdir: Path, callback_events: str | None = None) -> str:
    """``callback_events``: sent as ``status_callback_events`` (e.g. ``final``); None sends no such
    field, so the callback hears of every status, as a Twilio user's does."""
    extra = "" if callback_events is None else f',"status_callback_events":"{callback_events}"'
    return PER_MESSAGE_LUA % {"secret": secret, "callback": callback, "outdir": outdir, "extra": extra}


@dataclass
class Driven:
    """What the driver saw: accepted ids with (requested, answered) wall-clock seconds, and
    refusals by HTTP status."""

    accepted: dict[str, tuple[float, float]] = field(default_factory=dict)
    refused: collections.Counter = field(default_factory=collections.Counter)
    samples: list[str] = field(default_factory=list)


def parse_driver(lines) -> Driven:
    """Read the Lua script's lines: ``<id> <requested ms> <answered ms>`` or ``ERR <status> <body>``."""
    driven = Driven()
    for line in lines:
        parts = line.split(" ", 2)
        if parts[0] == "ERR" and len(parts) >= 2:
            driven.refused[parts[1]] += 1
            if len(driven.samples) < 3 and len(parts) == 3:
                driven.samples.append(f"{parts[1]} {parts[2].strip()}")
        elif len(parts) == 3:
            driven.accepted[parts[0]] = (int(parts[1]) / 1000, int(parts[2]) / 1000)
    return driven


@dataclass
class Tally:
    """Final callbacks set against the accepted ids: per id its first final's arrival time."""

    finals: dict[str, float]
    lost: list[str]            # accepted, no final callback
    doubled: int               # ids whose final arrived more than once (any webhook-id)
    redelivered: int           # posts that repeated a webhook-id already received (droppable)
    unknown: int               # finals for ids the driver never saw answered (wrk stopped mid-request)
    bad_signatures: int
    callbacks: int             # every verified post, all statuses


def tally(received: list[list], accepted) -> Tally:
    """``received``: the receiver's ``[type, id, at, webhook-id]`` rows in arrival order."""
    finals: dict[str, float] = {}
    counts: collections.Counter = collections.Counter()
    seen_hooks: set[str] = set()
    redelivered = bad = callbacks = 0
    for kind, ident, at, hook_id in received:
        if kind == "bad-signature":
            bad += 1
            continue
        callbacks += 1
        if hook_id in seen_hooks:
            redelivered += 1
        seen_hooks.add(hook_id)
        if kind == FINAL:
            counts[ident] += 1
            finals.setdefault(ident, at)
    return Tally(finals=finals, lost=[ident for ident in accepted if ident not in finals],
                 doubled=sum(1 for n in counts.values() if n > 1), redelivered=redelivered,
                 unknown=sum(1 for ident in finals if ident not in accepted), bad_signatures=bad,
                 callbacks=callbacks)


def _percentile(values: list[float], share: float) -> float | None:
    return values[min(len(values) - 1, int(len(values) * share))] if values else None


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bare_baseline(chain: Chain, seconds: int) -> dict:
    """The bare DRF view inserting one row, on the same gunicorn with the same 16 connections:
    requests/s, and CPU per request of the web processes and PostgreSQL."""
    lua = ("wrk.method = 'POST'\nwrk.headers['Content-Type'] = 'application/json'\n"
           "wrk.path = '/bench/sms-bare'\nwrk.body = '{\"to\":\"+12025550123\",\"body\":\"Your code is 123456\"}'\n")
    warm_up(chain.api_url, lua, CONNECTIONS, chain.api.pid)
    cpu = ChainCpu(chain.roots)
    before = cpu.sample()
    rate, total, bad = wrk(chain.api_url, lua, seconds, CONNECTIONS)
    ms = ChainCpu.per_message(before, cpu.sample(), total)
    return {"rate": rate, "requests": total, "bad": bad, "web_ms": ms["web"], "pg_ms": ms["postgresql"]}


def measure(app, secret: str, *, seconds: int = 20, workers: int = 2, webhook_workers: int = 1,
            dlr_delay: float = 1.0, web: str = "gunicorn", web_workers: int = 2, callback_events: str | None = None,
            bare_seconds: int = 8, drain_seconds: int = 60) -> dict:
    from cpaas.messaging.models import Message

    with Chain(app, workers=workers, webhook_workers=webhook_workers, dlr_delay=dlr_delay, web=web,
               web_workers=web_workers) as chain:
        bare = bare_baseline(chain, bare_seconds)
        chain.start(callback_secret_rotate(chain.api_url, secret))
        outdir = Path(tempfile.mkdtemp(prefix="sms-per-message-"))
        lua = per_message_lua(secret=secret, callback=chain.hook_url, outdir=outdir, callback_events=callback_events)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", dir=outdir, delete=False) as script:
            script.write(lua)
        cpu = ChainCpu(chain.roots)
        before, driver_before = cpu.sample(), _children_cpu()
        started = time.time()
        out = run(["wrk", "-t", "2", "-c", str(CONNECTIONS), "-d", f"{seconds}s", "-s", script.name,
                   chain.api_url]).stdout
        stopped = time.time()
        driver_cpu = _children_cpu() - driver_before
        driven = parse_driver(line for path in sorted(outdir.glob("driver-*.txt"))
                              for line in path.read_text().splitlines())
        # Wait for the last finals: until every accepted id has one, or nothing new came for 15 s.
        deadline, progress, count = time.time() + max(drain_seconds, seconds * 3), time.time(), -1
        while time.time() < deadline and time.time() - progress < 15:
            result = tally(chain.received(), driven.accepted)
            if not result.lost:
                break
            if len(result.finals) != count:
                count, progress = len(result.finals), time.time()
            time.sleep(0.5)
        time.sleep(1)  # a late duplicate still counts
        result = tally(chain.received(), driven.accepted)
        after = cpu.sample()
        messages = Message.objects.filter(app=app, created_at__gte=_aware(started)).count()
    warm = min(max(seconds * 0.25, dlr_delay + 2), seconds * 0.5)  # a short run keeps half for its window
    window = (started + warm, stopped)
    span = max(0.001, window[1] - window[0])
    accepted_steady = sum(1 for _, answered in driven.accepted.values() if window[0] <= answered < window[1]) / span
    finals_steady = sum(1 for at in result.finals.values() if window[0] <= at < window[1]) / span
    latencies = sorted(at - driven.accepted[ident][0] for ident, at in result.finals.items()
                       if ident in driven.accepted)
    ms = ChainCpu.per_message(before, after, messages)
    ms["wrk (test peer)"] = driver_cpu * 1000 / max(1, messages)
    return {"seconds": seconds, "window": window[1] - window[0], "wrk_out": out, "driven": driven, "tally": result,
            "messages": messages, "accepted_steady": accepted_steady, "finals_steady": finals_steady,
            "accepted_whole": len(driven.accepted) / max(0.001, stopped - started),
            "p50": _percentile(latencies, 0.5), "p99": _percentile(latencies, 0.99),
            "median_answer_ms": statistics.median(a - r for r, a in driven.accepted.values()) * 1000
            if driven.accepted else None,
            "cpu_ms": ms, "bare": bare, "dlr_delay": dlr_delay,
            "web": f"{web}, {web_workers} workers" + (", lean send path" if web == "uvicorn" and lean_accept()
                                                       else ", Django view"),
            "callback_events": callback_events or "all"}


def lean_accept() -> bool:
    """Whether the web processes serve single sends on the lean path (``SMS_LEAN_ACCEPT``; the
    children inherit this process's environment). gunicorn (WSGI) always runs the Django view."""
    from cpaas.messaging import conf

    return conf.LEAN_ACCEPT


def _aware(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


GROUPS = ("web", "sms workers", "webhooks worker", "postgresql", "postgresql (server-wide)", "redis")
PEERS = ("smsc (test peer)", "receiver (test peer)", "wrk (test peer)", "this driver")


def _met(ok: bool) -> str:
    return "[green]met[/green]" if ok else "[red]not met[/red]"


def report(figures: dict, console: Console | None = None) -> None:
    """The figures as a table with each target and whether it is met."""
    console = console or Console(width=None if sys.stdout.isatty() else 132)
    result: Tally = figures["tally"]
    driven: Driven = figures["driven"]
    cpu, bare = figures["cpu_ms"], figures["bare"]
    total = sum(cpu.get(group, 0.0) for group in GROUPS)
    table = Table(title=f"SMS per message: single POST /v1/messages with status_callback, {CONNECTIONS} connections "
                        f"closed loop, SMPP receipt after {figures['dlr_delay']:g} s, counted at the final callback")
    for column in ("figure", "measured", "target", ""):
        table.add_column(column)
    table.add_row("accepted/s (steady window)", f"{figures['accepted_steady']:,.0f}",
                  f"≥ {TARGETS['accepted']:,.0f}", _met(figures["accepted_steady"] >= TARGETS["accepted"]))
    table.add_row("final callbacks/s (steady window)", f"{figures['finals_steady']:,.0f}",
                  f"≥ {TARGETS['callbacks']:,.0f}", _met(figures["finals_steady"] >= TARGETS["callbacks"]))
    for label in ("p50", "p99"):
        value = figures[label]
        table.add_row(f"latency {label}, request → final callback", "-" if value is None else f"{value:.2f} s", "", "")
    for group in GROUPS:
        label = f"CPU/msg {group}" + (f" ({figures['web']})" if group == "web" else "")
        table.add_row(label, f"{cpu.get(group, 0.0):.2f} ms", "", "")
    table.add_row("CPU/msg total (the groups above)", f"{total:.2f} ms", f"≤ {TARGETS['cpu_total_ms']} ms",
                  _met(total <= TARGETS["cpu_total_ms"]))
    table.add_row("lost (accepted, no final callback)", f"{len(result.lost)}", "0", _met(not result.lost))
    table.add_row("doubled (final callback more than once)", f"{result.doubled}", "0", _met(not result.doubled))
    table.add_row("  of which same webhook-id (droppable)", f"{result.redelivered}", "", "")
    table.add_row("bare DRF + one INSERT, same server", f"{bare['rate']:,.0f} req/s", "", "")
    table.add_row("  accepted/s ÷ bare req/s", f"{figures['accepted_steady'] / max(1, bare['rate']):.2f}x", "", "")
    bare_ms = bare["web_ms"] + bare["pg_ms"]
    table.add_row("  bare CPU/request (web + PostgreSQL)", f"{bare_ms:.2f} ms", "", "")
    table.add_row("  CPU/msg total ÷ bare CPU/request", f"{total / max(0.001, bare_ms):.1f}x", "", "")
    console.print(table)
    console.print(
        f"{figures['messages']:,} messages created in {figures['seconds']} s "
        f"({figures['accepted_whole']:,.0f}/s answered over the whole run, steady window {figures['window']:.1f} s); "
        f"{len(driven.accepted):,} answered to the driver, {sum(driven.refused.values())} refused "
        f"{dict(driven.refused) or ''}; {len(result.finals):,} final callbacks, {result.callbacks:,} callbacks in all, "
        f"(status_callback_events: {figures['callback_events']}), "
        f"{result.unknown} for requests wrk cut off at its stop, {result.bad_signatures} bad signatures; "
        f"median answer {figures['median_answer_ms'] or 0:.1f} ms")
    if driven.samples:
        console.print("refusals, e.g.: " + " | ".join(driven.samples))
    console.print("test peers, CPU/msg (not in the total): " + ", ".join(
        f"{label} {cpu.get(label, 0.0):.2f} ms" for label in PEERS)
        + f"; whole machine busy {cpu['machine busy']:.2f} ms/msg")
