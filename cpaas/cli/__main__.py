"""Kept so ``python -m cpaas.cli …`` and console scripts installed before decision 1201 still work."""

import sys

from cpaas_sdk.cli.main import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
