"""Billing benchmarks: ledger ingest rate and a billing run over many events and tenants.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/cpaas_billing_bench REDIS_URL=redis://127.0.0.1:6379/2
    .venv/bin/python bench/billing.py [--ingest 200000] [--events 10000000 --tenants 1000]

The database named in DATABASE_URL is created if missing, migrated, and its billing tables are
emptied first: point it at a database of its own.

1. **Ingest** (target >= 50,000 events/s): ``record_usage`` inside ``usage_batch()`` blocks of
   5,000 events, one transaction per block (what a channel worker or the import API does), over
   100 apps and a realistic meter mix (SMS segments by country, voice seconds, IM messages, and
   IM DAU marks where a user is active many times a day). Baseline in the same run: a bare COPY
   of the same number of pre-built rows into an unindexed table with the same columns — the
   ceiling of the write itself, with no validation, dedup, indexes, rollups or DAU filter.
2. **Billing run** (target < 60 s for 10 M events / 1,000 tenants): the events are bulk-loaded
   with ``generate_series`` (not timed; loading 10 M rows through the Python ingest path would take
   minutes and is measured by part 1) together with the rollups the ingest path maintains, then
   ``billing_run`` drafts every tenant's invoice (rating from rollups; voice per-call increments
   from the raw events). Baseline: one ``GROUP BY tenant, meter`` over the raw events — what a
   rater without rollups would have to scan at least.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cpaas.core.redis_client import redis_client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cpaas.settings")
os.environ.setdefault("SECRET_KEY", "bench-" + secrets.token_urlsafe(32))

PERIOD = date(2026, 10, 1)
INGEST_TARGET = 50_000
RUN_TARGET_S = 60.0


def ensure_database() -> None:
    from django.conf import settings

    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        sys.exit("bench/billing.py needs PostgreSQL: set DATABASE_URL")
    import psycopg

    params = {"user": db["USER"], "password": db["PASSWORD"] or None, "host": db["HOST"] or None,
              "port": db["PORT"] or None}
    try:
        psycopg.connect(dbname=db["NAME"], **params).close()
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


def reset() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("TRUNCATE billing_usageevent, billing_usagedaily, billing_daumark, billing_invoiceline, "
                    "billing_creditnote, billing_payment, billing_invoice, billing_planassignment, "
                    "billing_planversion, billing_plan, billing_balancetransaction, billing_spendcap, "
                    "billing_billingaccount, billing_numbersequence, billing_issuer, webhooks_event CASCADE")

    client = redis_client()
    if client is not None:
        for key in client.scan_iter("billing:dau:*"):
            client.delete(key)


def make_tenants(count: int, prefix: str) -> list[tuple[str, str]]:
    """(tenant_id, app_id) pairs, created fast with bulk inserts."""
    from cpaas.tenants.models import App, Tenant

    Tenant.objects.filter(name__startswith=prefix).exists()
    tenants = [Tenant(name=f"{prefix}{i}") for i in range(count)]
    Tenant.objects.bulk_create(tenants, batch_size=1000)
    apps = [App(tenant=t, name="main") for t in tenants]
    App.objects.bulk_create(apps, batch_size=1000)
    return [(a.tenant_id, a.pk) for a in apps]


# --- part 1: ingest ---------------------------------------------------------------------------------

def ingest_events(pairs, n: int):
    """A deterministic stream of (app_id, meter, qty, subject, dims, occurred_at, key)."""
    countries = ["GB", "FR", "DE", "US", "NG", "IN", "BR", "CN"]
    base = datetime(2026, 10, 1, tzinfo=UTC)
    for i in range(n):
        app_id = pairs[i % len(pairs)][1]
        at = base + timedelta(seconds=(i * 7) % (30 * 86400))
        kind = i % 10
        if kind < 5:
            yield app_id, "sms_segments", 1 + i % 3, None, {"country": countries[i % 8]}, at, f"s{i}"
        elif kind < 7:
            yield app_id, "im_messages", 1, None, None, at, f"m{i}"
        elif kind < 8:
            yield app_id, "voice_seconds", 5 + i % 300, None, {"direction": "outbound", "country": "GB"}, at, f"v{i}"
        else:  # DAU: 2,000 users per app active ~10 times a day
            yield app_id, "im_dau", 1, f"u{i % 2000}", None, at.replace(hour=12, minute=0, second=0), f"d{i}"


def bench_ingest(n: int, batch: int, producers: int = 1) -> tuple[float, float]:
    from django.db import transaction

    import billing
    from billing.models import UsageEvent

    pairs = make_tenants(100, "ingest-")
    events = list(ingest_events(pairs, n))
    # Baseline: COPY of the same pre-built rows into an unindexed table (baselines.md: "the
    # ceiling for ledger ingestion"), one transaction per batch like the real path.
    import json

    from django.db import connection as conn

    rows = [(f"use_{i:026d}", pairs[0][0], e[0], e[1], e[2], e[3] or "", json.dumps(e[4] or {}), e[5], e[5], e[6],
             "", PERIOD, False, "") for i, e in enumerate(events)]
    cols = ("id, tenant_id, app_id, meter, quantity, subject, dimensions, occurred_at, received_at, idempotency_key, "
            "fingerprint, bill_period, late, void_reason")
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_bare_usage")
        cur.execute("CREATE TABLE bench_bare_usage (LIKE billing_usageevent INCLUDING DEFAULTS)")
    started = time.perf_counter()
    for start in range(0, len(rows), batch):
        with transaction.atomic(), conn.connection.cursor() as cur, cur.copy(
                f"COPY bench_bare_usage ({cols}) FROM STDIN") as copy:
            for row in rows[start:start + batch]:
                copy.write_row(row)
    bare = len(rows) / (time.perf_counter() - started)
    with conn.cursor() as cur:
        cur.execute("DROP TABLE bench_bare_usage")
    # The real path, in `producers` processes (channel workers) sharing the stream.
    def produce(part):
        for start in range(0, len(part), batch):
            with transaction.atomic(), billing.usage_batch():
                for app_id, meter, qty, subject, dims, at, key in part[start:start + batch]:
                    billing.record_usage(app_id, meter, qty, subject=subject, dimensions=dims, occurred_at=at,
                                         idempotency_key=key, mode="live")

    from django.db import connections

    from billing import ledger

    for app_id_pair in pairs:  # warm the app → tenant cache before forking
        ledger._tenant_id(app_id_pair[1])
    connections.close_all()
    started = time.perf_counter()
    if producers == 1:
        produce(events)
    else:
        children = []
        for index in range(producers):
            pid = os.fork()
            if pid == 0:  # child
                try:
                    produce(events[index::producers])
                    os._exit(0)
                except BaseException:
                    import traceback

                    traceback.print_exc()
                    os._exit(1)
            children.append(pid)
        for pid in children:
            _, status = os.waitpid(pid, 0)
            if status != 0:
                sys.exit("a producer failed")
    real = len(events) / (time.perf_counter() - started)
    stored = UsageEvent.objects.count()
    print(f"  events offered {len(events):,}; stored {stored:,} (DAU repeats filtered by Redis before PostgreSQL)")
    return real, bare


# --- part 2: the billing run -------------------------------------------------------------------------------

PLAN_CHARGES = [
    {"meter": "sms_segments", "model": "rate_deck", "rates": {"GB": "0.04", "FR": "0.05", "DE": "0.05", "*": "0.08"}},
    {"meter": "im_messages", "model": "graduated", "tiers": [{"up_to": 1000, "unit_price": "0.002"},
                                                            {"up_to": None, "unit_price": "0.001"}]},
    {"meter": "voice_seconds", "model": "per_unit", "unit_price": "0.012", "increments": [60, 60]},
    {"meter": "im_dau", "model": "flat_bands", "dau_mode": "peak", "bands": [
        {"up_to": 100, "flat_fee": "50"}, {"up_to": 1000, "flat_fee": "200"}],
     "overflow": {"size": 1000, "price": "150"}},
]


def load_events(pairs, n: int) -> float:
    """Bulk-load n events for the tenants plus their rollups and DAU marks; returns seconds."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("CREATE TEMP TABLE bench_apps (idx int primary key, tenant_id varchar(40), app_id varchar(40))")
        cur.execute("INSERT INTO bench_apps VALUES " + ",".join(["(%s,%s,%s)"] * len(pairs)),
                    [v for i, (t, a) in enumerate(pairs) for v in (i, t, a)])
        cur.execute("ALTER TABLE billing_usageevent SET UNLOGGED")  # bulk load only; restored below
        cur.execute(
            """
            INSERT INTO billing_usageevent (id, tenant_id, app_id, meter, quantity, subject, dimensions, occurred_at,
                received_at, idempotency_key, fingerprint, bill_period, late, void_reason)
            SELECT 'use_' || lpad(g::text, 26, '0'), a.tenant_id, a.app_id,
                   CASE WHEN g %% 10 < 6 THEN 'sms_segments' WHEN g %% 10 < 9 THEN 'im_messages'
                        ELSE 'voice_seconds' END,
                   CASE WHEN g %% 10 = 9 THEN 5 + g %% 300 ELSE 1 + g %% 3 END,
                   '',
                   CASE WHEN g %% 10 < 6 THEN jsonb_build_object('country', (ARRAY['GB','FR','DE','US'])[1 + g %% 4])
                        WHEN g %% 10 = 9 THEN '{"direction": "outbound"}'::jsonb ELSE '{}'::jsonb END,
                   timestamptz '2026-10-01' + ((g * 37) %% 2678400) * interval '1 second',
                   timestamptz '2026-10-01' + ((g * 37) %% 2678400) * interval '1 second',
                   'k' || g, '', date '2026-10-01', false, ''
            FROM generate_series(0, %s - 1) g JOIN bench_apps a ON a.idx = g %% %s
            """,
            [n, len(pairs)],
        )
        cur.execute("ALTER TABLE billing_usageevent SET LOGGED")
        cur.execute(
            """
            INSERT INTO billing_usagedaily (tenant_id, app_id, meter, day, dims_key, dimensions, bill_period,
                quantity, events, max_quantity)
            SELECT tenant_id, app_id, meter, (occurred_at AT TIME ZONE 'UTC')::date,
                   CASE WHEN dimensions = '{}'::jsonb THEN '' ELSE dimensions::text END, dimensions, bill_period,
                   sum(quantity), count(*), max(quantity)
            FROM billing_usageevent
            GROUP BY 1, 2, 3, 4, 5, 6, 7
            """
        )
        cur.execute(
            """
            INSERT INTO billing_daumark (tenant_id, app_id, meter, day, subject, bill_period)
            SELECT a.tenant_id, a.app_id, 'im_dau', date '2026-10-01' + d, 'u' || u, date '2026-10-01'
            FROM bench_apps a, generate_series(0, 30) d, generate_series(0, 49 + (a.idx % 5) * 40) u
            """
        )
        cur.execute("ANALYZE billing_usageevent; ANALYZE billing_usagedaily; ANALYZE billing_daumark")
    return time.perf_counter() - started


def _shard(args) -> dict:
    index, workers, now = args
    import django

    django.setup()
    from django.db import connections

    connections.close_all()
    from billing.invoices import billing_run

    return billing_run(period_start=PERIOD, now=now, shard=(index, workers))


def run_parallel(workers: int, now: datetime) -> dict:
    """What the beat task does with Celery workers: shards of tenants in separate processes."""
    import multiprocessing

    from django.db import connections

    connections.close_all()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        results = pool.map(_shard, [(i, workers, now) for i in range(workers)])
    return {key: sum(r[key] for r in results) for key in results[0]}


def bench_run(events: int, tenants: int, workers: int = 1, load: bool = True) -> tuple[float, float, dict]:
    from django.db import connection

    from billing.invoices import billing_run
    from billing.models import Invoice, InvoiceLine
    from billing.plans import plan_assign, plan_create

    if load:
        pairs = make_tenants(tenants, "run-")
        version = plan_create(code="bench", name="Bench", fixed_fee="49", minimum_commitment="100",
                              charges=PLAN_CHARGES)
        for tenant_id, _app in pairs:
            plan_assign(tenant_id=tenant_id, version=version, effective_from=PERIOD,
                        now=datetime(2026, 9, 1, tzinfo=UTC))
        seconds = load_events(pairs, events)
        print(f"  loaded {events:,} events for {tenants:,} tenants in {seconds:.1f} s (bulk SQL, not timed)")
    else:
        from billing.models import InvoiceLine as Lines

        Lines.objects.all().delete()
        Invoice.objects.all().delete()
        print("  reusing the events loaded by the previous run (--reuse)")
    started = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("SELECT tenant_id, meter, sum(quantity), count(*) FROM billing_usageevent GROUP BY 1, 2")
        cur.fetchall()
    bare = time.perf_counter() - started
    started = time.perf_counter()
    if workers > 1:
        counts = run_parallel(workers, datetime(2026, 11, 1, 6, tzinfo=UTC))
    else:
        counts = billing_run(period_start=PERIOD, now=datetime(2026, 11, 1, 6, tzinfo=UTC))
    elapsed = time.perf_counter() - started
    counts["lines"] = InvoiceLine.objects.count()
    counts["invoiced_total"] = str(sum(Invoice.objects.values_list("total_minor", flat=True)) / 100)
    started = time.perf_counter()
    again = (run_parallel(workers, datetime(2026, 11, 1, 7, tzinfo=UTC)) if workers > 1
             else billing_run(period_start=PERIOD, now=datetime(2026, 11, 1, 7, tzinfo=UTC)))
    counts["rerun_s"] = round(time.perf_counter() - started, 1)
    counts["rerun_invoices"] = again["invoices"]
    return elapsed, bare, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ingest", type=int, default=200_000, help="events through record_usage (0: skip)")
    parser.add_argument("--batch", type=int, default=5_000, help="events per usage_batch() transaction")
    parser.add_argument("--producers", type=int, default=2, help="processes calling record_usage (channel workers)")
    parser.add_argument("--events", type=int, default=10_000_000, help="events for the billing run (0: skip)")
    parser.add_argument("--tenants", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=2, help="processes sharing the billing run (like Celery)")
    parser.add_argument("--reuse", action="store_true", help="bill the events already loaded (skip the load)")
    args = parser.parse_args()

    import django

    django.setup()
    ensure_database()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    print(f"database {connection.settings_dict['NAME']} on {connection.settings_dict['HOST']}, "
          f"redis {'on' if os.environ.get('REDIS_URL') else 'off'}, cpus {os.cpu_count()}")
    ok = True
    if args.ingest:
        reset()
        print(f"ingest: {args.ingest:,} events, {args.batch:,} per transaction, {args.producers} producer(s)")
        real, bare = bench_ingest(args.ingest, args.batch, args.producers)
        passed = real >= INGEST_TARGET
        ok &= passed
        print(f"  record_usage (batched): {real:,.0f} events/s")
        print(f"  bare COPY, no indexes : {bare:,.0f} rows/s   ratio {real / bare:.2f}")
        print(f"  target >= {INGEST_TARGET:,} events/s: {'PASS' if passed else 'FAIL'}")
    if args.events:
        if not args.reuse:
            reset()
        print(f"billing run: {args.events:,} events, {args.tenants:,} tenants, {args.workers} worker process(es)")
        elapsed, bare, counts = bench_run(args.events, args.tenants, args.workers, load=not args.reuse)
        passed = elapsed < RUN_TARGET_S
        ok &= passed
        print(f"  billing_run: {elapsed:.1f} s ({counts})")
        print(f"  bare GROUP BY over raw events: {bare:.1f} s   ratio {elapsed / bare:.2f}")
        print(f"  target < {RUN_TARGET_S:.0f} s: {'PASS' if passed else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
