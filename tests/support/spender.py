"""A separate process spending an app's money through ``billing.spend_reserve``, as a web worker
does, for the lease tests (tests/billing/test_leases.py).

    python -m tests.support.spender TENANT APP TAG until-refused|lease-and-hang

It counts itself ready (``billing-test:ready:TAG``), waits for the Redis key
``billing-test:go:TAG`` (so two spenders start together), then
reserves one SMS segment to +1 per call. ``until-refused``: until a call is refused, then prints
``{"accepted": n, "code": …}`` and exits (returning its slice at exit). ``lease-and-hang``: until
this process holds a slice, then prints ``{"accepted": n, "leased": amount}`` and sleeps (the test
kills it).
"""

from __future__ import annotations

import json
import os
import sys
import time

import django


def main() -> None:
    tenant_id, app_id, tag, behaviour = sys.argv[1:5]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    from billing import Hold, spend_reserve
    from billing.balances import gate_for
    from billing.leases import _table
    from cpaas.core.redis_client import redis_client

    gate_for(app_id=app_id, tenant_id=tenant_id)  # the money settings read before the start
    client = redis_client()
    client.incr(f"billing-test:ready:{tag}")
    deadline = time.monotonic() + 30
    while not client.exists(f"billing-test:go:{tag}") and time.monotonic() < deadline:
        time.sleep(0.01)
    accepted = 0
    while True:
        answer = spend_reserve(tenant_id=tenant_id, app_id=app_id, mode="live",
                               holds=[Hold(f"{tag}-{accepted}", "sms_segments", 1,
                                           {"country": "US", "direction": "outbound"})])[0]
        if answer is not None:
            print(json.dumps({"accepted": accepted, "code": answer.code}), flush=True)
            return
        accepted += 1
        if behaviour == "until-refused":
            time.sleep(0.0002)  # a web worker's pace, about 4,000 sends/s: neither spender drains it alone
        lease = _table.get(app_id)
        if behaviour == "lease-and-hang" and lease is not None and lease.lease_id:
            print(json.dumps({"accepted": accepted, "leased": lease.free}), flush=True)
            time.sleep(600)


if __name__ == "__main__":
    main()
