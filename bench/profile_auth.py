"""Where an authenticated request's time goes, in one process, without HTTP or a load generator.

    .venv/bin/python bench/profile_auth.py [--requests 3000] [--profile]

Calls Django's WSGI handler directly (so ``request_started``/``request_finished`` and the
connection health checks run as under gunicorn) for ``/bench/bare`` and ``/v1/me``, prints the
mean cost of each, then times the pieces of the authenticated path on their own: key resolution,
the Redis gate (EVALSHA), the JSON access log line, an empty ``transaction.atomic()`` after a
request start. ``--profile`` adds a cProfile of the ``/v1/me`` loop (top functions by own time
and by cumulative time). The access log is written to /dev/null, formatting included.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import backends, configure_env, ensure_database, provision_key


def best_of(fn: Callable[[], object], n: int, repeats: int = 3) -> float:
    """Microseconds per call: the best of ``repeats`` timed loops (the machine is shared)."""
    for _ in range(min(200, n)):
        fn()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - started) / n * 1e6)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--profile", action="store_true", help="cProfile the /v1/me loop")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)

    configure_env()
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections, transaction
    from django.test import RequestFactory

    ensure_database()
    call_command("migrate", verbosity=0, interactive=False)
    key = provision_key()
    devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(devnull)

    app = WSGIHandler()
    factory = RequestFactory(HTTP_HOST="127.0.0.1")

    def call(path: str, **headers: str) -> int:
        environ = factory.get(path, **headers).environ
        status: list[str] = []
        body = app(environ, lambda s, h, exc_info=None: status.append(s))
        b"".join(body)
        body.close()  # sends request_finished, as a WSGI server does
        return int(status[0].split()[0])

    auth = {"HTTP_AUTHORIZATION": f"Bearer {key.secret}"}
    assert call("/bench/bare") == 200
    assert call("/v1/me", **auth) == 200
    assert call("/bench/me", **auth) == 200

    import cpaas.core.auth as core_auth
    from cpaas.core.middleware import access_log
    from cpaas.core.ratelimit import Admission, gate
    from cpaas.tenants.keys import hash_secret, key_resolve

    real_gate = core_auth.gate

    class NoGate:
        def admit(self, bucket, deny_flag, rate, burst, cost=1, **_):
            return Admission(False, True, burst, burst, 0, 0)

    no_gate = NoGate()
    n = args.requests
    print(backends())
    print(f"{n} requests per line (best of 3), Django's WSGI handler called in process: no HTTP "
          "server, no client, one core")
    variants = [
        ("GET /bench/bare (baseline)", "/bench/bare", {}, real_gate, False),
        ("GET /v1/me as shipped", "/v1/me", auth, real_gate, False),
        ("  same view at /bench/me (URL resolution)", "/bench/me", auth, real_gate, False),
        ("  gate -> constant Admission (no limiter)", "/v1/me", auth, lambda: no_gate, False),
        ("  no Redis, no access log", "/v1/me", auth, lambda: no_gate, True),
        ("GET /bench/bare, no access log", "/bench/bare", {}, real_gate, True),
    ]
    costs: dict[str, float] = {}
    for label, path, headers, gate_fn, quiet in variants:
        core_auth.gate = gate_fn
        access_log.disabled = quiet
        try:
            costs[label] = best_of(lambda path=path, headers=headers: call(path, **headers), n)
        finally:
            core_auth.gate = real_gate
            access_log.disabled = False
    bare = costs["GET /bench/bare (baseline)"]
    for label, cost in costs.items():
        print(f"  {label:44} {cost:8.1f} µs  ({1e6 / cost:6,.0f}/s)  bare/this {bare / cost:.3f}")

    principal = key_resolve(key.secret)
    g = gate()
    print("pieces, each on its own:")
    pieces = {
        "key_resolve (sha256 + cache hit)": lambda: key_resolve(key.secret),
        "  of which hash_secret": lambda: hash_secret(key.secret),
        "gate().admit (Redis EVALSHA token bucket)": lambda: g.admit(
            principal.rate_bucket, principal.deny_flag, principal.rate, principal.burst),
    }
    pieces["  Redis PING, same client (round trip)"] = g.client.ping
    pieces["  Redis EXISTS, same client"] = lambda: g.client.exists(principal.deny_flag)
    pieces["access log line (JSON, to /dev/null)"] = lambda: access_log.info(
        "request", extra={"method": "GET", "path": "/v1/me", "status": 200, "duration_ms": 1.0})

    def atomic_after_request_start() -> None:
        request_started.send(sender=None)
        with transaction.atomic():
            pass
        request_finished.send(sender=None)

    def request_start_only() -> None:
        request_started.send(sender=None)
        request_finished.send(sender=None)

    pieces["request_started/finished signals"] = request_start_only
    pieces["  + empty atomic() (writes: health check)"] = atomic_after_request_start
    for name, fn in pieces.items():
        print(f"  {name:44} {best_of(fn, n):8.1f} µs")
    close_old_connections()

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(n):
            call("/v1/me", **auth)
        profiler.disable()
        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(args.top)
            print(f"--- cProfile of {n} x GET /v1/me, by {order} ---")
            print(out.getvalue().split("\n", 4)[-1] if order == "tottime" else out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
