"""How commands print: rich tables for people, ``--json`` (one JSON document, or JSON Lines for
the ``tail`` commands) for scripts. Errors go to stderr with their code and request id."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cpaas_sdk.errors import ApiError, CpaasError

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=str) + "\n")
    sys.stdout.flush()


def table(rows: Iterable[dict[str, Any]], columns: Sequence[str], *, title: str | None = None) -> None:
    grid = Table(title=title)
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*["" if row.get(c) is None else str(row.get(c)) for c in columns])
    out.print(grid)


def line(row: dict[str, Any], columns: Sequence[str]) -> None:
    out.print("  ".join("-" if row.get(c) is None else str(row.get(c)) for c in columns))


def failure(exc: CpaasError) -> int:
    if isinstance(exc, ApiError):
        where = f" (param: {exc.param})" if exc.param else ""
        request = f"  request {exc.request_id}" if exc.request_id else ""
        text = f"{exc.status} {exc.code}: {exc.message}{where}{request}"
        err.print("[red]error[/red] " + escape(text))
    else:
        err.print("[red]error[/red] " + escape(str(exc)))
    return 1
