"""The WSGI app the benchmarks serve: the real one, optionally with "what if" changes applied.

``BENCH_WHAT_IF`` (comma-separated) patches the running process only, never the code base, to
price an optimisation before anyone builds it:

- ``no-gate``: no rate limiting and no deny-flag check at all (the floor of key auth);
- ``no-access-log``: the ``cpaas.access`` logger is switched off.
"""

import logging
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
application = get_wsgi_application()

WHAT_IF = {name.strip() for name in os.environ.get("BENCH_WHAT_IF", "").split(",") if name.strip()}
KNOWN = {"no-gate", "no-access-log"}
if WHAT_IF - KNOWN:
    raise SystemExit(f"unknown BENCH_WHAT_IF {sorted(WHAT_IF - KNOWN)}; known: {sorted(KNOWN)}")

if "no-gate" in WHAT_IF:
    import cpaas.core.auth
    from cpaas.core.ratelimit import Admission

    class _NoGate:
        def admit(self, bucket, deny_flag, rate, burst, cost=1, **_):
            return Admission(False, True, burst, burst, 0, 0)

    _gate = _NoGate()
    cpaas.core.auth.gate = lambda: _gate

if "no-access-log" in WHAT_IF:
    logging.getLogger("cpaas.access").disabled = True
