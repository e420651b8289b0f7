"""Where a single ``POST /v1/messages`` spends its time, in one process, without HTTP.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python bench/profile_sms_send.py [--requests 2000] [--profile]

Calls Django's WSGI handler directly (as bench/profile_auth.py does) for the bare DRF+INSERT
view of bench/sms.py and for a real single send with a live key, prints the mean cost of each
(best of 3 loops) and their ratio, and with ``--profile`` a cProfile of the send loop. Less noisy
than wrk on a shared machine: it is CPU time per request of this process, plus its round trips.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)

    from bench import sms

    sms.setup_django()
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command
    from django.test import RequestFactory

    settings.ROOT_URLCONF = "bench.sms"
    call_command("migrate", verbosity=0)
    app_row, secret = sms.provision()
    sms.ensure_bare_table()
    devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(devnull)
    handler = WSGIHandler()
    factory = RequestFactory(HTTP_HOST="127.0.0.1")
    counter = iter(range(10**9))

    def call(path: str, **headers: str) -> int:
        body = json.dumps({"to": f"+1202555{next(counter) % 10000:04d}", "from": "Acme",
                           "body": "Your code is 123456"})
        environ = factory.post(path, data=body, content_type="application/json", **headers).environ
        status: list[str] = []
        out = handler(environ, lambda s, h, exc_info=None: status.append(s))
        b"".join(out)
        out.close()
        return int(status[0].split()[0])

    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert call("/bench/sms-bare") == 201
    assert call("/v1/messages", **auth) == 201, "send refused"

    def best_of(fn, n: int, repeats: int = 3) -> tuple[float, float]:
        """(wall µs, this process's CPU µs) per call, each the best of ``repeats`` loops."""
        for _ in range(min(200, n)):
            fn()
        wall = cpu = float("inf")
        for _ in range(repeats):
            started, started_cpu = time.perf_counter(), time.process_time()
            for _ in range(n):
                fn()
            wall = min(wall, (time.perf_counter() - started) / n * 1e6)
            cpu = min(cpu, (time.process_time() - started_cpu) / n * 1e6)
        return wall, cpu

    n = args.requests
    bare = best_of(lambda: call("/bench/sms-bare"), n)
    send = best_of(lambda: call("/v1/messages", **auth), n)
    print(f"load average {os.getloadavg()[0]:.2f}; {n} requests per loop, best of 3, in process")
    print(f"  POST /bench/sms-bare (DRF + one INSERT)  {bare[0]:8.1f} µs wall {bare[1]:8.1f} µs CPU")
    print(f"  POST /v1/messages (single send)          {send[0]:8.1f} µs wall {send[1]:8.1f} µs CPU   "
          f"bare/send {bare[0] / send[0]:.2f} (wall) {bare[1] / send[1]:.2f} (CPU)")
    if args.profile:
        profiler = cProfile.Profile(time.process_time)  # CPU time: round trips' waits drop out
        profiler.enable()
        for _ in range(n):
            call("/v1/messages", **auth)
        profiler.disable()
        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(args.top)
            print(f"--- cProfile of {n} x POST /v1/messages, by {order} ---")
            print(out.getvalue().split("\n", 4)[-1])
    from cpaas.messaging.models import Message

    Message.objects.filter(app=app_row, status="queued").update(status="canceled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
