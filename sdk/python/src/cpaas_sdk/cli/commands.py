"""The commands on the SDK: login, sms send, calls create, messages/events tail, usage, invoices.

Each takes the parsed arguments and a :class:`~cpaas_sdk.Client` and returns the exit code;
``main.py`` resolves the key, builds the client and turns SDK errors into exit code 1.
"""

from __future__ import annotations

import argparse
import getpass
from itertools import islice
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from cpaas_sdk.cli import config
from cpaas_sdk.cli.output import emit_json, err, line, out, table
from cpaas_sdk.client import Client
from cpaas_sdk.voice import VoiceResponse

MESSAGE_COLUMNS = ("created_at", "id", "direction", "status", "from", "to", "body")
EVENT_COLUMNS = ("created", "id", "type", "object_id")
CALL_COLUMNS = ("id", "kind", "status", "from", "to")


def login(args: argparse.Namespace, client_for) -> int:
    """Check the key against the API (``GET /v1/me``), then store it under the profile."""
    api_key = args.api_key_given or getpass.getpass("API key (sk_test_… or sk_live_…): ").strip()
    me = client_for(api_key).me.retrieve()
    path = config.save_profile(args.profile or config.DEFAULT_PROFILE, api_key=api_key, api_base=args.api_base)
    if args.json:
        emit_json({"profile": args.profile or config.DEFAULT_PROFILE, "app": me.app, "tenant": me.tenant,
                   "livemode": me.livemode, "config": str(path)})
    else:
        mode = "live" if me.livemode else "test"
        out.print(f"Logged in to app {me.app} ({mode} mode) as profile "
                  f"'{args.profile or config.DEFAULT_PROFILE}'; key stored in {path} (0600).")
    return 0


def sms_send(args: argparse.Namespace, client: Client) -> int:
    sent = []
    with Progress(SpinnerColumn(), TextColumn("sending"), BarColumn(), MofNCompleteColumn(),
                  console=err, disable=args.json or len(args.to) < 2) as progress:
        task = progress.add_task("send", total=len(args.to))
        for to in args.to:
            sent.append(client.messages.send(to=to, body=args.body, from_=args.from_, sender_pool=args.sender_pool,
                                             status_callback=args.status_callback))
            progress.advance(task)
    if args.json:
        emit_json(sent[0] if len(sent) == 1 else sent)
    else:
        table(sent, ("id", "status", "from", "to", "segments"), title="Messages sent")
    return 0


def calls_create(args: argparse.Namespace, client: Client) -> int:
    instructions = args.instructions
    if args.say:
        instructions = VoiceResponse().say(args.say)
    call = client.calls.create(to=args.to, from_=args.from_, url=args.url, instructions=instructions,
                               record=True if args.record else None, status_callback=args.status_callback)
    if args.json:
        emit_json(call)
    else:
        table([call], CALL_COLUMNS, title="Call created")
    return 0


def _tail(args: argparse.Namespace, pager, columns: tuple[str, ...]) -> int:
    """Print items as they are created, oldest first; ``--count`` stops after that many."""
    items = pager.follow(interval=args.interval, since=pager.latest_id())
    if args.count:
        items = islice(items, args.count)
    err.print(f"Waiting for new items (every {args.interval:g}s) — Ctrl-C to stop")
    try:
        for item in items:
            if args.json:
                emit_json(item)
            else:
                line({**item, "object_id": (item.get("data") or {}).get("id")}, columns)
    except KeyboardInterrupt:
        pass
    return 0


def messages_tail(args: argparse.Namespace, client: Client) -> int:
    return _tail(args, client.messages.list(status=args.status, direction=args.direction), MESSAGE_COLUMNS)


def events_tail(args: argparse.Namespace, client: Client) -> int:
    return _tail(args, client.events.list(type=args.type), EVENT_COLUMNS)


def usage(args: argparse.Namespace, client: Client) -> int:
    report = client.usage.retrieve(meter=args.meter, from_=args.from_, to=args.to, granularity=args.granularity,
                                   group_by=args.group_by)
    if args.json:
        emit_json(report)
        return 0
    columns = ("period", "group", "quantity") if report.get("group_by") else ("period", "quantity")
    table(report.data, columns, title=f"{report.meter} ({report.mode}) {report['from']} to {report.to}")
    return 0


def invoices_list(args: argparse.Namespace, client: Client) -> int:
    invoices = list(islice(iter(client.invoices.list(status=args.status)), args.limit))
    if args.json:
        emit_json(invoices)
    else:
        table(invoices, ("id", "number", "status", "period_start", "total", "currency"), title="Invoices")
    return 0


def invoices_download(args: argparse.Namespace, client: Client) -> int:
    fetch = client.invoices.pdf if args.format == "pdf" else client.invoices.csv
    target = Path(args.output or f"{args.invoice_id}.{args.format}")
    with Progress(SpinnerColumn(), TextColumn(f"downloading {args.invoice_id}.{args.format}"), console=err,
                  disable=args.json, transient=True):
        data = fetch(args.invoice_id)
    target.write_bytes(data)
    if args.json:
        emit_json({"invoice": args.invoice_id, "format": args.format, "path": str(target), "bytes": len(data)})
    else:
        out.print(f"Saved {target} ({len(data):,} bytes)")
    return 0
