"""The ``cpaas`` console script: says how to get the CLI's extra instead of a traceback when
``rich`` is missing (``pip install cpaas-sdk`` without ``[cli]``)."""

from __future__ import annotations

import importlib
import importlib.util
import sys


def main() -> int:
    if importlib.util.find_spec("rich") is None:
        print("cpaas: the command line needs its extra: pip install 'cpaas-sdk[cli]'", file=sys.stderr)
        return 2
    return int(importlib.import_module("cpaas_sdk.cli.main").main())


if __name__ == "__main__":
    sys.exit(main())
