"""``cpaas <command>``: one entry point that dispatches to subcommands (``python -m cpaas_sdk.cli`` too)."""

from __future__ import annotations

import argparse
import sys

from cpaas_sdk._version import __version__
from cpaas_sdk.cli import commands, config, listen
from cpaas_sdk.cli.output import failure
from cpaas_sdk.client import Client
from cpaas_sdk.errors import CpaasError


def _common() -> argparse.ArgumentParser:
    """Options every command takes, before or after its name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--api-key", dest="api_key_given", metavar="KEY", default=argparse.SUPPRESS,
                        help="sk_test_… or sk_live_… (default: CPAAS_API_KEY, the profile, else var/demo_key)")
    common.add_argument("--api-base", dest="api_base_given", metavar="URL", default=argparse.SUPPRESS,
                        help="the platform's base URL (default: CPAAS_API_BASE, the profile, else "
                             f"{config.DEFAULT_API_BASE})")
    common.add_argument("--profile", metavar="NAME", default=argparse.SUPPRESS,
                        help="the stored profile to use (default: default)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print JSON (JSON Lines for tail) instead of tables")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(prog="cpaas", parents=[common],
                                     description="Command line tools for the CPaaS platform.")
    parser.add_argument("--version", action="version", version=f"cpaas-sdk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")

    def command(parent, name: str, handler, help: str) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help, parents=[common])
        p.set_defaults(handler=handler)
        return p

    command(sub, "login", commands.login, "check an API key and store it under a profile (0600 file)")

    sms = sub.add_parser("sms", help="send SMS").add_subparsers(dest="sms_command", metavar="<sms command>")
    send = command(sms, "send", commands.sms_send, "send an SMS to one or more numbers")
    send.add_argument("--to", action="append", required=True, help="E.164 number; repeat for several")
    send.add_argument("--body", required=True)
    send.add_argument("--from", dest="from_", help="a number or sender id your app owns")
    send.add_argument("--sender-pool", help="send from a sender pool instead of --from")
    send.add_argument("--status-callback", help="URL told about every status change of these messages")

    calls = sub.add_parser("calls", help="voice calls").add_subparsers(dest="calls_command", metavar="<calls command>")
    create = command(calls, "create", commands.calls_create, "place an outbound call")
    create.add_argument("--to", required=True)
    create.add_argument("--from", dest="from_", required=True, help="a caller id your app owns")
    what = create.add_mutually_exclusive_group(required=True)
    what.add_argument("--url", help="URL of the call-control document")
    what.add_argument("--instructions", help="an inline call-control document (XML)")
    what.add_argument("--say", help="a text to speak (a one-verb document)")
    create.add_argument("--record", action="store_true")
    create.add_argument("--status-callback")

    for noun, handler, filters in (("messages", commands.messages_tail, ("status", "direction")),
                                   ("events", commands.events_tail, ("type",))):
        group = sub.add_parser(noun, help=f"{noun} of your app").add_subparsers(dest=f"{noun}_command",
                                                                               metavar=f"<{noun} command>")
        tail = command(group, "tail", handler, f"print new {noun} as they are created (Ctrl-C to stop)")
        for name in filters:
            tail.add_argument(f"--{name}")
        tail.add_argument("--interval", type=float, default=1.0, help="seconds between polls (default 1)")
        tail.add_argument("--count", type=int, default=0, help="exit after this many (default: follow forever)")

    usage = command(sub, "usage", commands.usage, "usage of a meter over a period")
    usage.add_argument("--meter", default="sms_segments",
                       help="sms_segments (default), voice_seconds, im_dau, im_messages, api_requests, …")
    usage.add_argument("--from", dest="from_", help="first day, YYYY-MM-DD (default: start of this period)")
    usage.add_argument("--to", help="last day, YYYY-MM-DD (default: today)")
    usage.add_argument("--granularity", choices=("day", "month"))
    usage.add_argument("--group-by")

    invoices = sub.add_parser("invoices", help="invoices (live keys)").add_subparsers(
        dest="invoices_command", metavar="<invoices command>")
    ls = command(invoices, "list", commands.invoices_list, "list invoices")
    ls.add_argument("--status")
    ls.add_argument("--limit", type=int, default=20)
    download = command(invoices, "download", commands.invoices_download, "save an invoice as PDF or CSV")
    download.add_argument("invoice_id")
    download.add_argument("--format", choices=("pdf", "csv"), default="pdf")
    download.add_argument("--output", "-o", help="file to write (default: <invoice_id>.<format>)")

    listen.add_parser(sub, parents=[common])
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and resolve the key and base URL (flag, environment, profile, demo key)."""
    args = build_parser().parse_args(argv)
    args.json = getattr(args, "json", False)
    args.profile = getattr(args, "profile", None)
    args.api_key_given = getattr(args, "api_key_given", None)
    credentials = config.resolve(api_key=args.api_key_given, api_base=getattr(args, "api_base_given", None),
                                 profile=args.profile)
    args.api_key, args.api_base = credentials.api_key, credentials.api_base
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        build_parser().print_help()
        return 2
    if handler is listen._command:
        return handler(args)

    def client_for(api_key: str) -> Client:
        return Client(api_key, base_url=args.api_base)

    try:
        if handler is commands.login:
            return handler(args, client_for)
        if not args.api_key:
            print("cpaas: no API key: run `cpaas login`, pass --api-key or set CPAAS_API_KEY", file=sys.stderr)
            return 2
        with client_for(args.api_key) as client:
            return handler(args, client)
    except CpaasError as exc:
        return failure(exc)


if __name__ == "__main__":
    sys.exit(main())
