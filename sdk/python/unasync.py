"""Generate ``resources/_sync.py`` from ``resources/_async.py`` (run: ``python sdk/python/unasync.py``).

The resources are written once, for the async client; the sync ones are the same text without
``async``/``await``. ``tests/sdk/test_unasync.py`` fails when the generated file is stale.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "src" / "cpaas_sdk" / "resources"
SOURCE, TARGET = HERE / "_async.py", HERE / "_sync.py"

RULES = [
    (r"\basync def\b", "def"),
    (r"\bawait ", ""),
    (r"\bAsyncPager\b", "Pager"),
    (r"\bAsyncRequester\b", "Requester"),
    (r":class:`cpaas_sdk.AsyncClient`", ":class:`cpaas_sdk.Client`"),
]
HEADER = "# Generated from _async.py by sdk/python/unasync.py: edit that file, then run the script.\n"


def generate() -> str:
    text = SOURCE.read_text()
    for pattern, replacement in RULES:
        text = re.sub(pattern, replacement, text)
    return HEADER + text


if __name__ == "__main__":
    TARGET.write_text(generate())
    sys.exit(0)
