"""``cpaas <command>``: one entry point that dispatches to subcommands."""

from __future__ import annotations

import argparse
import sys

from cpaas.cli import listen


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cpaas", description="Command line tools for the CPaaS platform.")
    commands = parser.add_subparsers(dest="command", metavar="<command>")
    listen.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
