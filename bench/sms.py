"""SMS benchmark: single-send accept rate vs a bare DRF+INSERT view, batch accept rate, and
end-to-end throughput and latency through a real Celery worker, SMPP and signed callbacks.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python bench/sms.py [--scenario all|batch|per-message]
        [--seconds N] [--e2e-seconds 20]

Everything runs on this machine in one run, so every figure comes with the baseline measured
beside it:
1. single sends: gunicorn (2 sync workers) serving the real app; ``wrk`` POSTs /v1/messages with a
   live key, alternating rounds with ``/bench/sms-bare`` (a DRF view, no auth, one INSERT);
2. batch: ``wrk`` POSTs /v1/messages/batch with 1,000 messages per request;
3. end to end: batches offered at a fixed rate → Celery worker (``-Q sms``) → the test SMSC process
   (tests/carriers/smsc_server.py) → deliver_sm receipts → signed status callbacks POSTed to a
   receiver process that verifies each signature; latency is accept → delivered callback received;
4. per message (``--scenario per-message``, bench/sms_per_message.py): single sends, each with its
   own status_callback, 16 connections in a closed loop, receipts 1 s after submit, counted at the
   final callback; the bare view on the same server is its baseline.
The deployment of 3 and 4 (processes, CPU meter) is bench/sms_chain.py.
5. postpaid against prepaid (``--billing both``): single sends of a postpaid app (no money check)
   and of a prepaid one, in alternating rounds on one server, with the server's CPU per request;
   nothing else runs.

This module is also the WSGI app and the URLconf the benchmark's gunicorn serves (``application``,
``urlpatterns``), so the real URLconf and settings stay untouched.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as ``python bench/sms.py``
    sys.path.insert(0, str(ROOT))

from bench import sms_per_message  # noqa: E402
from bench._support import descendants, free_port, proc_cpu, wrk  # noqa: E402
from bench.sms_chain import (  # noqa: E402
    Chain,
    ChainCpu,
    callback_secret_rotate,
    ensure_bare_table,
    env_for_children,
    start_gunicorn,
    stop,
    warm_up,
)

# --- the server side: WSGI app and URLconf ------------------------------------------------------

_app = None


def application(environ, start_response):
    global _app
    if _app is None:
        import django
        from django.conf import settings

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cpaas.settings")
        django.setup(set_prefix=False)
        settings.ROOT_URLCONF = "bench.sms"
        from django.core.wsgi import get_wsgi_application

        _app = get_wsgi_application()
    return _app(environ, start_response)


def __getattr__(name):  # PEP 562: Django reads ``urlpatterns`` only when serving
    if name != "urlpatterns":
        raise AttributeError(name)
    from django.db import connection
    from django.urls import include, path
    from rest_framework import serializers
    from rest_framework.response import Response
    from rest_framework.views import APIView

    class BareInput(serializers.Serializer):
        to = serializers.CharField(max_length=20)
        body = serializers.CharField(max_length=1600)

    class BareSend(APIView):
        """The baseline: DRF parsing and a serializer, no auth, one INSERT, a JSON answer."""

        authentication_classes = []
        permission_classes = []

        def post(self, request):
            data = BareInput(data=request.data)
            data.is_valid(raise_exception=True)
            with connection.cursor() as cursor:
                cursor.execute("INSERT INTO bench_sms_bare (to_number, body, created_at) VALUES (%s, %s, now()) "
                               "RETURNING id", [data.validated_data["to"], data.validated_data["body"]])
                row_id = cursor.fetchone()[0]
            return Response({"id": row_id, "status": "queued"}, status=201)

    return [path("bench/sms-bare", BareSend.as_view()), path("", include("cpaas.urls"))]


# --- the driver ---------------------------------------------------------------------------------

def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.update({k: v for k, v in env_for_children().items() if k not in os.environ or k == "PYTHONPATH"})
    import django

    django.setup()


def provision(billing_mode: str = "postpaid"):
    from cpaas.messaging.models import Connector, Route, SmsSettings
    from cpaas.tenants.keys import api_key_create, tenant_set_limit
    from cpaas.tenants.services import tenant_provision

    provisioned = tenant_provision(name=f"sms bench {secrets.token_hex(3)}")
    tenant_set_limit(tenant=provisioned.tenant, live=1_000_000, test=None, actor="bench")
    key = api_key_create(app=provisioned.app, name="bench live", mode="live", rate_limit=1_000_000)
    # A live send needs a live route (no_route otherwise); the accept benchmarks never dispatch,
    # and the full chain adds its SMPP route ahead of this one (priority 0 < 1000).
    connector, _ = Connector.objects.get_or_create(id="bench-accept", defaults={"kind": "sandbox"})
    Route.objects.create(app=provisioned.app, prefix="+1", priority=1000, connector=connector)
    SmsSettings.objects.update_or_create(app=provisioned.app, defaults={
        "allowed_countries": ["US"], "velocity_limit": 10**9, "daily_cap": None})
    if billing_mode == "prepaid":
        prepay(provisioned.tenant)
    return provisioned.app, key.secret


def prepay(tenant) -> None:
    """A prepaid account with a priced plan and a balance no run can spend: every accepted send
    then takes the money check's reservation (one Redis script call, decision 0820)."""
    from django.utils import timezone

    from billing import ledger
    from billing.balances import balance_top_up, gates_clear
    from billing.invoices import account_get
    from billing.models import BillingAccount
    from billing.plans import plan_assign, plan_create

    version = plan_create(code=f"bench-{tenant.pk[-6:].lower()}", name="bench", currency="EUR", fixed_fee="0",
                          minimum_commitment="0",
                          charges=[{"meter": "sms_segments", "model": "per_unit", "unit_price": "0.0001"}])
    now = timezone.now()
    plan_assign(tenant_id=tenant.pk, version=version, effective_from=ledger.open_period(now), now=now)
    account_get(tenant.pk)
    BillingAccount.objects.filter(tenant=tenant).update(mode="prepaid")
    balance_top_up(tenant_id=tenant.pk, amount="100000000", reference="bench")
    gates_clear()


SINGLE_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(secret)s"
request = function()
  local to = string.format("+1202555%%04d", math.random(0, 9999))
  return wrk.format(nil, "%(path)s", nil, '{"to":"' .. to .. '","from":"Acme","body":"Your code is 123456"}')
end
"""

BATCH_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(secret)s"
local items = {}
for i = 1, 1000 do
  items[i] = string.format('{"to":"+1202555%%04d","from":"Acme","body":"Your code is %%06d"}', i %% 10000, i)
end
wrk.body = '{"messages":[' .. table.concat(items, ",") .. ']}'
wrk.path = "/v1/messages/batch"
"""


def bench_accept(secret: str, seconds: int, rounds: int) -> dict:
    ensure_bare_table()
    port = free_port()
    server = start_gunicorn(port)
    url = f"http://127.0.0.1:{port}"
    try:
        # warm both paths (Django set-up, imports, connections, caches)
        warm_up(url, SINGLE_LUA % {"secret": secret, "path": "/bench/sms-bare"}, 8, server.pid)
        warm_up(url, SINGLE_LUA % {"secret": secret, "path": "/v1/messages"}, 8, server.pid)
        bare, ours, ratios = [], [], []
        for _ in range(rounds):
            b, _, bad_b = wrk(url, SINGLE_LUA % {"secret": secret, "path": "/bench/sms-bare"}, seconds, 8)
            o, _, bad_o = wrk(url, SINGLE_LUA % {"secret": secret, "path": "/v1/messages"}, seconds, 8)
            if bad_b or bad_o:
                print(f"  warning: non-2xx answers (bare {bad_b}, sends {bad_o})")
            bare.append(b)
            ours.append(o)
            ratios.append(o / b)
        batch_rate, batch_requests, bad = wrk(url, BATCH_LUA % {"secret": secret}, seconds, 2)
        if bad:
            print(f"  warning: {bad} batch requests failed")
    finally:
        stop(server)
    return {"bare": statistics.median(bare), "single": statistics.median(ours),
            "ratio": statistics.median(ratios), "batch_messages": batch_rate * 1000,
            "batch_requests": batch_requests, "rounds": list(zip(bare, ours, strict=True))}


def bench_billing_pair(secrets_by_mode: dict[str, str], seconds: int, rounds: int) -> list[dict]:
    """Single sends of a postpaid app (no money check) and a prepaid one (reserved) on the same
    server, in rounds whose order alternates, with the server's CPU per request: the cost of the
    prepaid check compared under the same load (decision 1000)."""
    port = free_port()
    server = start_gunicorn(port)
    url = f"http://127.0.0.1:{port}"
    lua = {mode: SINGLE_LUA % {"secret": secret, "path": "/v1/messages"} for mode, secret in secrets_by_mode.items()}
    out = []
    try:
        for script in lua.values():
            warm_up(url, script, 8, server.pid)
        for index in range(rounds):
            figures = {}
            for mode in (list(lua) if index % 2 == 0 else list(reversed(lua))):
                before = proc_cpu(descendants(server.pid))
                rate, total, bad = wrk(url, lua[mode], seconds, 8)
                cpu = proc_cpu(descendants(server.pid)) - before
                if bad:
                    print(f"  warning: {bad} non-2xx answers ({mode})")
                figures[mode] = {"rate": rate, "cpu_ms": 1000 * cpu / max(1, total)}
            out.append(figures)
    finally:
        stop(server)
    return out


def bench_e2e(app, secret: str, rate: int, seconds: int, batch_size: int, workers: int, via: str = "webhooks",
              webhook_workers: int = 1, subscribe: str = "delivered", dlr_delay: float = 0.0,
              callback_events: str | None = None) -> dict:
    """``via="webhooks"``: an endpoint subscribed to every event gets message.sent and
    message.delivered from the webhooks room's dispatcher (its own Celery worker, queue
    ``webhooks``); ``via="callbacks"``: each message's ``status_callback`` gets them, from the
    same room's callback outbox (the same ``webhooks`` worker).
    ``subscribe="delivered"``: the endpoint subscribes to ``message.delivered`` only (every event
    is still published and stored; only the delivered one is sent), ``"all"``: to every event."""
    from webhooks.models import Endpoint

    with Chain(app, workers=workers, webhook_workers=webhook_workers, dlr_delay=dlr_delay) as chain:
        try:
            return _e2e_run(chain, app, secret, rate, seconds, batch_size, via, subscribe, callback_events)
        finally:
            Endpoint.objects.filter(app=app).delete()


def _e2e_run(chain: Chain, app, secret: str, rate: int, seconds: int, batch_size: int, via: str,
             subscribe: str, callback_events: str | None = None) -> dict:
    from django.db.models import Max
    from django.utils import timezone

    from cpaas.messaging.models import Message, Status
    from webhooks import crypto
    from webhooks.models import Endpoint
    from webhooks.services import _secret_entry

    Endpoint.objects.filter(app=app).delete()
    if via == "webhooks":
        # Live endpoints must be https (a policy of endpoint_create); the receiver is local http.
        signing_secret = crypto.secret_generate()
        Endpoint.objects.create(app_id=app.pk, url=chain.hook_url, mode="live",
                                event_types=[] if subscribe == "all" else ["message.delivered"], enabled=True,
                                secrets=[_secret_entry(signing_secret)])
    else:
        signing_secret = callback_secret_rotate(chain.api_url, secret)
    chain.start(signing_secret)
    received_path = chain.received_path
    cpu = ChainCpu(chain.roots)
    cpu_before = cpu.sample()
    callback = chain.hook_url
    accepted: dict[str, float] = {}
    lock = threading.Lock()
    client = httpx.Client(base_url=chain.api_url, timeout=30,
                          headers={"Authorization": f"Bearer {secret}"})
    interval = batch_size / rate
    total_batches = int(seconds * rate / batch_size)
    started = time.time()
    behind = 0

    def post(index: int) -> None:
        items = [{"to": f"+1202555{(index * batch_size + i) % 10000:04d}", "from": "Acme",
                  "body": f"Code {index}-{i}"} for i in range(batch_size)]
        if via == "callbacks":
            for item in items:
                item["status_callback"] = callback
                if callback_events:
                    item["status_callback_events"] = callback_events
        response = client.post("/v1/messages/batch", json={"messages": items})
        now = time.time()
        body = response.json()
        with lock:
            for item in body["data"]:
                if item["status"] == "accepted":
                    accepted[item["id"]] = now

    threads = []
    for index in range(total_batches):
        due = started + index * interval
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        else:
            behind += 1
        thread = threading.Thread(target=post, args=(index,))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    offered_seconds = time.time() - started
    deadline = time.time() + max(30, seconds * 3)
    delivered: dict[str, float] = {}
    bad = 0
    while time.time() < deadline:
        delivered, bad = {}, 0
        if received_path.exists():
            for line in received_path.read_text().splitlines():
                kind, ident, at = json.loads(line)[:3]
                if kind == "message.delivered":
                    delivered[ident] = at
                elif kind == "bad-signature":
                    bad += 1
        if len(delivered) >= len(accepted):
            break
        time.sleep(0.5)
    cpu_ms = ChainCpu.per_message(cpu_before, cpu.sample(), len(delivered))
    # Steady state: callbacks received while the offer was still running, past its first
    # quarter (workers warming, first batches in flight). The whole-run rate below divides by
    # the time to the last callback, so even a chain that keeps up shows a little under the
    # offered rate (the last message's own latency is in the denominator).
    window = (started + offered_seconds * 0.25, started + offered_seconds)
    steady = sum(1 for at in delivered.values() if window[0] <= at < window[1]) / (window[1] - window[0])
    # What entered the chain in the same window: a backlog from the first quarter can lift the
    # callbacks above it, so "kept up" reads as steady ≈ accepted, not steady > offered.
    entered = sum(1 for at in accepted.values() if window[0] <= at < window[1]) / (window[1] - window[0])
    latencies = sorted(delivered[i] - accepted[i] for i in delivered if i in accepted)
    last = max(delivered.values()) if delivered else started
    ids = list(accepted)
    statuses = {}
    for status in Status.values:
        count = Message.objects.filter(id__in=ids, status=status).count() if ids else 0
        if count:
            statuses[status] = count
    done = Message.objects.filter(id__in=ids, status="delivered")
    last_delivered = done.aggregate(last=Max("delivered_at"))["last"]
    delivered_rate = done.count() / max(0.001, last_delivered.timestamp() - started) if last_delivered else 0.0
    return {
        "delivered_rate": delivered_rate,
        "offered_rate": rate, "accepted": len(accepted), "offered_seconds": offered_seconds,
        "delivered_callbacks": len(delivered), "bad_signatures": bad, "statuses": statuses,
        "sustained": len(delivered) / max(0.001, last - started),
        "p50": latencies[len(latencies) // 2] if latencies else None,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else None,
        "late_batches": behind, "since": timezone.now(), "cpu_ms": cpu_ms, "steady": steady, "entered": entered,
    }


def bench_contracts(app, count: int = 2000) -> float:
    """The floor of the worker: per message, the two cross-room calls an SMS needs (message.sent
    and message.delivered published, one usage record), batched as the pipeline batches them
    (publish_many and usage_batch, 200 messages per transaction), nothing else."""
    from django.db import transaction
    from django.utils import timezone

    import billing
    import webhooks

    run = secrets.token_hex(4)
    started = time.perf_counter()
    for chunk in range(0, count, 200):
        idents = [f"bench-{run}-{index}" for index in range(chunk, min(count, chunk + 200))]
        for status in ("sent", "delivered"):
            with transaction.atomic():
                webhooks.publish_many(app, [(f"message.{status}", {"id": ident, "status": status},
                                             f"{ident}:{status}") for ident in idents], livemode=True)
                if status == "sent":
                    with billing.usage_batch():
                        for ident in idents:
                            billing.record_usage(app, "sms_segments", 1, dimensions={"country": "US"},
                                                 occurred_at=timezone.now(), idempotency_key=f"sms:{ident}",
                                                 mode="live")
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=["all", "batch", "per-message"], default="all",
                        help="batch: single-send ratio, batch accepts and end to end with batches (the sections "
                             "below); per-message: single sends with a status_callback each, counted at the final "
                             "callback (bench/sms_per_message.py); all: both")
    parser.add_argument("--seconds", type=int, default=None,
                        help="seconds per wrk round (default 8), and of the per-message run (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds bare/single")
    parser.add_argument("--e2e-seconds", type=int, default=20)
    parser.add_argument("--e2e-rates", default="500,1000", help="offered end-to-end rates, messages/s")
    parser.add_argument("--e2e-dlr-delay", type=float, default=0.0,
                        help="end to end: seconds before each receipt (1 gives the per-message scenario's "
                             "worker-side shape at a fixed offered rate)")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes on the sms queue")
    parser.add_argument("--via", choices=["webhooks", "callbacks"], default="webhooks",
                        help="how the signed delivered event reaches the receiver: a webhook endpoint "
                             "(webhooks room) or each message's status_callback (the same room's callback outbox)")
    parser.add_argument("--webhook-workers", type=int, default=1, help="Celery worker processes on the webhooks queue")
    parser.add_argument("--dlr-delay", type=float, default=1.0, help="per-message: seconds before each receipt")
    parser.add_argument("--web", choices=["gunicorn", "uvicorn"], default="gunicorn",
                        help="per-message: the API server (gunicorn sync workers close each connection; uvicorn "
                             "keeps them alive, as docs/configuration.md runs production)")
    parser.add_argument("--web-workers", type=int, default=2, help="per-message: API server worker processes")
    parser.add_argument("--callback-events", default=None,
                        help="per-message (and end to end with --via callbacks): send this "
                             "status_callback_events with each message (e.g. final); "
                             "default none, so the callback hears of every status (the API before issue 14 "
                             "refuses the field)")
    parser.add_argument("--subscribe", choices=["delivered", "all"], default="delivered",
                        help="with --via webhooks: the endpoint's event types (message.delivered, or all)")
    parser.add_argument("--skip-accept", action="store_true")
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--billing", choices=["postpaid", "prepaid", "both"], default="postpaid",
                        help="the bench tenant's account: postpaid without a cap skips the money check; "
                             "prepaid reserves every send against its balance (from a leased slice, decision "
                             "1000); both: only single sends, postpaid and prepaid apps in alternating rounds "
                             "on one server, with the server's CPU per request")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        raise SystemExit("set DATABASE_URL (PostgreSQL) and REDIS_URL: the figures are for that setup")
    (ROOT / "var").mkdir(exist_ok=True)
    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if args.billing == "both":
        pair = {mode: provision(mode)[1] for mode in ("postpaid", "prepaid")}
        print(f"SMS single sends, postpaid vs prepaid: {os.cpu_count()} cores, gunicorn 2 sync workers, "
              f"{args.rounds} rounds of {args.seconds or 8} s each; load {os.getloadavg()[0]:.2f}")
        ratios, cpu_ratios = [], []
        for figures in bench_billing_pair(pair, args.seconds or 8, args.rounds):
            post, pre = figures["postpaid"], figures["prepaid"]
            ratios.append(pre["rate"] / post["rate"])
            cpu_ratios.append(pre["cpu_ms"] / post["cpu_ms"])
            print(f"  postpaid {post['rate']:7.0f}/s {post['cpu_ms']:.3f} ms CPU/request   "
                  f"prepaid {pre['rate']:7.0f}/s {pre['cpu_ms']:.3f} ms CPU/request   "
                  f"rate ratio {ratios[-1]:.3f}, CPU ratio {cpu_ratios[-1]:.3f}")
        print(f"median prepaid/postpaid: rate {statistics.median(ratios):.3f}, server CPU per request "
              f"{statistics.median(cpu_ratios):.3f}; load {os.getloadavg()[0]:.2f}")
        return
    app, secret = provision(args.billing)
    print(f"SMS benchmark: {os.cpu_count()} cores, PostgreSQL + Redis, gunicorn 2 sync workers "
          f"(per message: {args.web}, {args.web_workers} workers), {args.billing} account")
    batch = args.scenario in ("all", "batch")
    if batch and not args.skip_accept:
        figures = bench_accept(secret, args.seconds or 8, args.rounds)
        print(f"bare DRF + one INSERT            {figures['bare']:8.0f} req/s")
        print(f"POST /v1/messages (single)       {figures['single']:8.0f} accepted/s   "
              f"ratio {figures['ratio']:.2f}x  (targets: >= 0.8x and >= 500/s)")
        print(f"POST /v1/messages/batch (1,000)  {figures['batch_messages']:8.0f} messages/s   "
              f"({figures['batch_requests']} requests; target >= 10,000/s)")
        print("  rounds (bare, single, ratio): " + "; ".join(
            f"{b:.0f}, {o:.0f}, {o / b:.2f}" for b, o in figures["rounds"]) + f"; load {os.getloadavg()[0]:.2f}")
        from cpaas.messaging.models import Message

        Message.objects.filter(app=app, status="queued").update(status="canceled")
    if batch and not args.skip_e2e:
        floor = bench_contracts(app)
        print(f"contracts alone (2 events + 1 usage record per message, batched, one process) "
              f"{floor:8.0f} messages/s")
        for rate in [int(r) for r in args.e2e_rates.split(",") if r]:
            figures = bench_e2e(app, secret, rate, args.e2e_seconds, batch_size=max(10, rate // 10),
                                workers=args.workers, via=args.via, webhook_workers=args.webhook_workers,
                                subscribe=args.subscribe, dlr_delay=args.e2e_dlr_delay,
                                callback_events=args.callback_events if args.via == "callbacks" else None)
            p50 = f"{figures['p50']:.2f}s" if figures["p50"] is not None else "-"
            p99 = f"{figures['p99']:.2f}s" if figures["p99"] is not None else "-"
            print(f"end to end, offered {rate:5d}/s  steady state {figures['steady']:6.0f}/s signed callbacks received "
                  f"(last three quarters of the offer; {figures['entered']:.0f}/s accepted then); "
                  f"whole run {figures['delivered_rate']:.0f} delivered/s "
                  f"(receipts applied), {figures['sustained']:.0f}/s callbacks; accept → delivered callback "
                  f"p50 {p50}, p99 {p99}; {figures['delivered_callbacks']}/{figures['accepted']} callbacks verified, "
                  f"{figures['bad_signatures']} bad; statuses {figures['statuses']}; via {args.via} "
                  f"({args.subscribe if args.via == 'webhooks' else 'every status'}); "
                  f"load {os.getloadavg()[0]:.2f}")
            cpu = dict(figures["cpu_ms"])
            busy = cpu.pop("machine busy")
            print(f"  CPU per delivered message {sum(cpu.values()):.2f} ms in the chain's processes, {busy:.2f} ms "
                  f"on the whole machine ({os.cpu_count()} cores give {os.cpu_count() * 1000:,} ms/s): " + ", ".join(
                      f"{label} {ms:.2f}" for label, ms in sorted(cpu.items(), key=lambda item: -item[1])))
        print("targets: end to end >= 1,000/s sustained through SMPP; p99 < 2 s at 500/s")
    if args.scenario in ("all", "per-message"):
        ensure_bare_table()
        # A tenant of its own: the batch scenarios' messages stay out of its counts.
        app, secret = provision(args.billing)
        figures = sms_per_message.measure(app, secret, seconds=args.seconds or 20, workers=args.workers,
                                          webhook_workers=args.webhook_workers, dlr_delay=args.dlr_delay,
                                          web=args.web, web_workers=args.web_workers,
                                          callback_events=args.callback_events)
        sms_per_message.report(figures)
        print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
