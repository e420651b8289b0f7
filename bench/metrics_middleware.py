"""CPU per request of MetricsMiddleware (one counter inc and one histogram observe), in-memory
values and multiprocess (mmap files) values. Run: PYTHONPATH=. python bench/metrics_middleware.py"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

N = 200_000

CHILD = r"""
import os, sys, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
import django
django.setup()
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import resolve
from cpaas.core.metrics import MetricsMiddleware
request = RequestFactory().get("/v1/me")
request.resolver_match = resolve("/v1/me")
response = HttpResponse()
bare = lambda r: response
wrapped = MetricsMiddleware(bare)
n = int(sys.argv[1])
def cpu(f):
    start = time.process_time()
    for _ in range(n):
        f(request)
    return (time.process_time() - start) / n * 1e6
base, with_metrics = cpu(bare), cpu(wrapped)
print(f"{with_metrics - base:.2f}")
"""


def run(multiproc_dir: str | None) -> str:
    env = {**os.environ}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if multiproc_dir:
        env["PROMETHEUS_MULTIPROC_DIR"] = multiproc_dir
    out = subprocess.run([sys.executable, "-c", CHILD, str(N)], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


if __name__ == "__main__":
    print(f"MetricsMiddleware CPU per request, {N} requests:")
    print(f"  in-process values:  {run(None)} µs")
    with tempfile.TemporaryDirectory() as directory:
        print(f"  multiprocess files: {run(directory)} µs")
