"""Hand-computed invoices (October 2026 = 31 days), the billing run, numbering and states."""

from datetime import date
from decimal import Decimal as D

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import Hold, spend_reserve, usage_batch
from billing.balances import balance_top_up
from billing.invoices import (
    billing_run,
    credit_note_create,
    finalize_due,
    invoice_finalize,
    invoice_refresh,
    invoice_set_status,
    invoice_upcoming,
)
from billing.models import INVOICE_TRANSITIONS, BillingAccount, Invoice, SpendCap
from billing.plans import plan_assign, plan_create
from cpaas.core.errors import ApiError
from cpaas.tenants.models import App, AuditLogEntry, Tenant
from webhooks.models import Event

from .conftest import at, make_plan, use

OCT = date(2026, 10, 1)
NOV = date(2026, 11, 1)
AFTER_GRACE = at(2026, 11, 1, 12, 30)
TIERS = [{"up_to": 1000, "unit_price": "0.05"}, {"up_to": 10000, "unit_price": "0.04"},
         {"up_to": None, "unit_price": "0.03"}]


def reserve_one(app, meter, quantity, hold_id):
    return spend_reserve(tenant_id=app.tenant_id, app_id=app.pk, mode="live",
                         holds=[Hold(str(hold_id), meter, quantity)])[0]


def lines(invoice):
    return [(line.kind, line.meter, line.quantity, line.amount_minor) for line in invoice.lines.all()]


def bulk(app, meter, quantity, day=3, **dims):
    with transaction.atomic(), usage_batch():
        use(app, meter, quantity, at(2026, 10, day, 10), **dims)


def test_graduated_and_volume_tiers_across_their_boundaries(tenant, app):
    make_plan(tenant, charges=[{"meter": "sms_segments", "model": "graduated", "tiers": TIERS},
                               {"meter": "im_messages", "model": "volume", "tiers": TIERS}])
    BillingAccount.objects.update_or_create(tenant=tenant, defaults={"tax_rate": D("0.20")})
    bulk(app, "sms_segments", 12000)
    bulk(app, "im_messages", 10001)
    invoice = invoice_refresh(tenant_id=tenant.pk, period_start=OCT)
    # graduated: 1000x0.05 + 9000x0.04 + 2000x0.03 = 470.00; volume: 10001x0.03 = 300.03
    assert lines(invoice) == [("usage", "sms_segments", D(12000), 47000), ("usage", "im_messages", D(10001), 30003)]
    assert [len(line.tiers) for line in invoice.lines.all()] == [3, 1]
    # tax 20 % of 770.03 = 154.006 → 154.01
    assert (invoice.subtotal_minor, invoice.tax_minor, invoice.total_minor) == (77003, 15401, 92404)


def test_package_pricing_charges_started_blocks(tenant, app):
    make_plan(tenant, charges=[{"meter": "im_messages", "model": "package", "package_size": 1000,
                                "package_price": "5.00", "free_units": 500}])
    bulk(app, "im_messages", 3001)  # 2501 billable → 3 blocks
    invoice = invoice_refresh(tenant_id=tenant.pk, period_start=OCT)
    assert invoice.total_minor == 1500


@pytest.mark.parametrize(("mode", "quantity", "total_minor"), [("peak", 40, 4000), ("sum", 93, 9300),
                                                               ("average", 3, 300)])
def test_dau_peak_average_and_sum_over_a_month_with_gaps(tenant, app, mode, quantity, total_minor):
    make_plan(tenant, charges=[{"meter": "im_dau", "model": "per_unit", "unit_price": "1.00", "dau_mode": mode}])
    with transaction.atomic(), usage_batch():
        for day, users in ((1, 40), (2, 20), (15, 33)):  # 93 user-days on 3 of 31 days; avg 3.0
            for n in range(users):
                for _ in range(2):  # twice a day: still one DAU
                    use(app, "im_dau", 1, at(2026, 10, day, 9), subject=f"u{n}")
    invoice = invoice_refresh(tenant_id=tenant.pk, period_start=OCT)
    line = invoice.lines.get()
    assert (line.quantity, invoice.total_minor) == (D(quantity), total_minor)
    assert line.appendix["daily"] == {"2026-10-01": 40, "2026-10-02": 20, "2026-10-15": 33}


def test_dau_in_flat_bands_with_overflow(tenant, app):
    make_plan(tenant, charges=[{"meter": "im_dau", "model": "flat_bands", "dau_mode": "peak",
                                "bands": [{"up_to": 10, "flat_fee": "100"}, {"up_to": 20, "flat_fee": "180"}],
                                "overflow": {"size": 5, "price": "30"}}])
    with transaction.atomic(), usage_batch():
        for n in range(26):  # 26 DAU: 180 + 2 started blocks of 5 x 30
            use(app, "im_dau", 1, at(2026, 10, 7, 9), subject=f"u{n}")
    assert invoice_refresh(tenant_id=tenant.pk, period_start=OCT).total_minor == 24000


@pytest.mark.parametrize(("increments", "total_minor"), [([60, 60], 840), ([6, 6], 516)])
def test_voice_increments_round_each_call_up(tenant, app, increments, total_minor):
    make_plan(tenant, charges=[{"meter": "voice_seconds", "model": "per_unit", "unit_price": "1.20",
                                "increments": increments, "filter": {"direction": "outbound"}}])
    for seconds in (5, 59, 61, 125, 0):
        use(app, "voice_seconds", seconds, at(2026, 10, 3), direction="outbound", country="GB")
    use(app, "voice_seconds", 600, at(2026, 10, 3), direction="inbound", country="GB")  # filtered out
    # 60/60: 60+60+120+180 = 420 s = 7 min x 1.20 = 8.40; 6/6: 6+60+66+126 = 258 s = 4.3 min = 5.16
    assert invoice_refresh(tenant_id=tenant.pk, period_start=OCT).total_minor == total_minor


def test_voice_rate_deck_by_longest_prefix(tenant, app):
    make_plan(tenant, charges=[{"meter": "voice_seconds", "model": "rate_deck", "increments": [30, 6],
                                "rates": {"44": "0.10", "447": "0.30", "*": "1.00"}}])
    use(app, "voice_seconds", 31, at(2026, 10, 3), destination="+447700900123")  # 36 s at 0.30/min = 0.18
    use(app, "voice_seconds", 90, at(2026, 10, 3), destination="+441632960000")  # 90 s at 0.10/min = 0.15
    use(app, "voice_seconds", 1, at(2026, 10, 3), destination="+15550100")  # 30 s at 1.00/min = 0.50
    invoice = invoice_refresh(tenant_id=tenant.pk, period_start=OCT)
    assert [(line.dimensions["destination"], line.amount_minor) for line in invoice.lines.all()] == [
        ("*", 50), ("44", 15), ("447", 18)]


def test_sms_priced_by_country(tenant, app):
    make_plan(tenant, charges=[{"meter": "sms_segments", "model": "rate_deck",
                                "rates": {"GB": "0.04", "FR": "0.05", "*": "0.10"}}])
    bulk(app, "sms_segments", 100, country="GB")
    bulk(app, "sms_segments", 30, day=9, country="FR")
    bulk(app, "sms_segments", 7, country="DE")
    invoice = invoice_refresh(tenant_id=tenant.pk, period_start=OCT)
    assert [(line.dimensions["destination"], line.quantity, line.amount_minor) for line in invoice.lines.all()] == [
        ("*", D(7), 70), ("FR", D(30), 150), ("GB", D(100), 400)]
    assert invoice.total_minor == 620


def test_minimum_commitment_tops_up_the_shortfall(tenant, app):
    make_plan(tenant, fixed_fee="10", minimum="100",
              charges=[{"meter": "sms_segments", "model": "per_unit", "unit_price": "0.07"}])
    bulk(app, "sms_segments", 1000)  # 70.00 of usage: 30.00 short
    invoice = invoice_refresh(tenant_id=tenant.pk, period_start=OCT)
    assert [(kind, amount) for kind, _, _, amount in lines(invoice)] == [("fixed", 1000), ("usage", 7000),
                                                                         ("minimum", 3000)]
    assert invoice.total_minor == 11000


def test_prepaid_sends_are_cut_off_when_the_balance_runs_out(tenant, app, django_capture_on_commit_callbacks):
    make_plan(tenant, charges=[{"meter": "sms_segments", "model": "per_unit", "unit_price": "0.10"}],
              effective_from=date(2026, 11, 1), now=at(2026, 10, 20))
    BillingAccount.objects.update_or_create(tenant=tenant, defaults={"mode": "prepaid", "low_balance_minor": 50})
    balance_top_up(tenant_id=tenant.pk, amount="1.00", reference="topup-1")
    import time_machine

    with time_machine.travel(at(2026, 11, 5), tick=False):
        for n in range(10):
            assert reserve_one(app, "sms_segments", 1, n) is None
        err = reserve_one(app, "sms_segments", 1, "last")
    assert (err.status, err.code) == (402, "insufficient_funds")
    assert Event.objects.filter(type="billing.balance_low").count() == 1


def test_an_app_spend_cap_refuses_sends_for_postpaid_tenants(tenant, app):
    make_plan(tenant, charges=[{"meter": "sms_segments", "model": "per_unit", "unit_price": "0.50"}],
              effective_from=date(2026, 11, 1), now=at(2026, 10, 20))
    SpendCap.objects.create(app=app, tenant=tenant, monthly_limit_minor=100)
    import time_machine

    with time_machine.travel(at(2026, 11, 5), tick=False):
        assert reserve_one(app, "sms_segments", 2, "first") is None
        err = reserve_one(app, "sms_segments", 1, "second")
    assert (err.status, err.code) == (402, "spend_cap_exceeded")


def test_a_credit_note_credits_a_finalized_invoice(tenant, app):
    make_plan(tenant, charges=[{"meter": "sms_segments", "model": "per_unit", "unit_price": "0.10"}])
    BillingAccount.objects.update_or_create(tenant=tenant, defaults={"tax_rate": D("0.20")})
    bulk(app, "sms_segments", 500)
    invoice = invoice_refresh(tenant_id=tenant.pk, period_start=OCT)
    with pytest.raises(ApiError) as err:
        credit_note_create(tenant_id=tenant.pk, invoice_id=invoice.pk, amount="1", reason="x")
    assert err.value.code == "invalid_transition"
    invoice = invoice_finalize(tenant_id=tenant.pk, invoice_id=invoice.pk, now=AFTER_GRACE)
    note = credit_note_create(tenant_id=tenant.pk, invoice_id=invoice.pk, amount="10.00", reason="outage",
                              actor_key_id="key_op", now=AFTER_GRACE)
    assert (note.number, note.subtotal_minor, note.tax_minor, note.total_minor) == ("CN-2026-000001", 1000, 200, 1200)
    with pytest.raises(ApiError) as err:
        credit_note_create(tenant_id=tenant.pk, invoice_id=invoice.pk, amount="40.01", reason="too much")
    assert err.value.code == "credit_exceeds_invoice"
    assert AuditLogEntry.objects.filter(action="credit_note.create", actor_key_id="key_op").count() == 1


def test_a_late_event_goes_to_the_next_invoice_as_a_labelled_line(tenant, app):
    make_plan(tenant, charges=[{"meter": "sms_segments", "model": "graduated", "tiers": TIERS}])
    bulk(app, "sms_segments", 1000)
    october = invoice_finalize(tenant_id=tenant.pk, invoice_id=invoice_refresh(tenant_id=tenant.pk,
                                                                                 period_start=OCT).pk, now=AFTER_GRACE)
    use(app, "sms_segments", 10, at(2026, 10, 31, 23), received=at(2026, 11, 2))
    use(app, "sms_segments", 5, at(2026, 11, 3))
    november = invoice_refresh(tenant_id=tenant.pk, period_start=NOV)
    october.refresh_from_db()
    assert october.total_minor == 5000  # untouched
    late = november.lines.get(kind="late_usage")
    # Re-rated October: 1010 units = 50.00 + 10 x 0.04; the late line is the difference.
    assert (late.quantity, late.amount_minor, late.service_start) == (D(10), 40, OCT)
    assert late.description.startswith("Late usage for 2026-10")
    assert november.total_minor == 40 + 25
    billing_run(period_start=NOV)  # the run's chunked reads see the late usage too
    assert Invoice.objects.get(pk=november.pk).total_minor == 65


def test_a_plan_change_takes_effect_at_the_period_boundary(tenant, app):
    make_plan(tenant, code="a", charges=[{"meter": "sms_segments", "model": "per_unit", "unit_price": "0.05"}])
    version_b = plan_create(code="b", name="B", charges=[{"meter": "sms_segments", "model": "per_unit",
                                                          "unit_price": "0.01"}])
    with pytest.raises(ApiError) as err:
        plan_assign(tenant_id=tenant.pk, version=version_b, effective_from=date(2026, 10, 15), now=at(2026, 10, 14))
    assert (err.value.code, err.value.param) == ("invalid_plan", "effective_from")
    plan_assign(tenant_id=tenant.pk, version=version_b, now=at(2026, 10, 14))  # → next period
    bulk(app, "sms_segments", 100, day=20)
    use(app, "sms_segments", 100, at(2026, 11, 2))
    assert invoice_refresh(tenant_id=tenant.pk, period_start=OCT).total_minor == 500
    assert invoice_refresh(tenant_id=tenant.pk, period_start=NOV).total_minor == 100
    assert AuditLogEntry.objects.filter(action="plan.assign").count() == 2


def test_an_explicit_proration_splits_the_fixed_fee_by_days(tenant, app):
    make_plan(tenant, code="a", fixed_fee="31")
    version_b = plan_create(code="b", name="B", fixed_fee="62")
    plan_assign(tenant_id=tenant.pk, version=version_b, effective_from=date(2026, 10, 11), prorate=True,
                now=at(2026, 10, 10))
    invoice = invoice_refresh(tenant_id=tenant.pk, period_start=OCT)
    assert [line.amount_minor for line in invoice.lines.all()] == [1000, 4200]  # 10 days of A, 21 days of B


def test_finalize_numbers_invoices_without_gaps_and_freezes_them(tenant, app, other_provisioned):
    make_plan(tenant, fixed_fee="5")
    make_plan(other_provisioned.tenant, code="other", fixed_fee="7")
    with pytest.raises(ApiError) as err:
        invoice_finalize(tenant_id=tenant.pk, invoice_id=invoice_refresh(tenant_id=tenant.pk, period_start=OCT).pk,
                         now=at(2026, 11, 1, 11))
    assert err.value.code == "grace_period_open"
    assert billing_run(period_start=OCT)["invoices"] == 2
    assert finalize_due(now=AFTER_GRACE) == 2
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == ["INV-2026-000001", "INV-2026-000002"]
    invoice = Invoice.objects.get(tenant=tenant)
    with pytest.raises(ApiError) as err:
        invoice_finalize(tenant_id=tenant.pk, invoice_id=invoice.pk, now=AFTER_GRACE)
    assert (err.value.status, err.value.code) == (409, "invoice_finalized")
    bulk(app, "sms_segments", 5)
    assert billing_run(period_start=OCT)["finalized_skipped"] == 2
    assert Event.objects.filter(type="invoice.finalized").count() == 2
    assert set(Event.objects.filter(type="invoice.finalized").values_list("livemode", flat=True)) == {True}
    assert AuditLogEntry.objects.filter(action="invoice.finalize").count() == 2


@pytest.mark.parametrize("start", list(INVOICE_TRANSITIONS))
@pytest.mark.parametrize("target", ["paid", "void", "uncollectible"])
def test_invoice_states_follow_the_transition_table(tenant, start, target):
    make_plan(tenant, fixed_fee="5")
    invoice = invoice_refresh(tenant_id=tenant.pk, period_start=OCT)
    Invoice.objects.filter(pk=invoice.pk).update(status=start, number=None if start == "draft" else "X-1")
    allowed = target in INVOICE_TRANSITIONS[start] or (start == target and start != "draft")
    if allowed:
        assert invoice_set_status(tenant_id=tenant.pk, invoice_id=invoice.pk, status=target).status == target
    else:
        with pytest.raises(ApiError) as err:
            invoice_set_status(tenant_id=tenant.pk, invoice_id=invoice.pk, status=target)
        assert err.value.code == "invalid_transition"


def test_the_upcoming_invoice_estimates_the_open_period(tenant, app):
    make_plan(tenant, charges=[{"meter": "sms_segments", "model": "per_unit", "unit_price": "0.10"}])
    use(app, "sms_segments", 7, at(2026, 10, 9))
    upcoming = invoice_upcoming(tenant_id=tenant.pk, now=at(2026, 10, 10))
    assert (upcoming["period_start"], upcoming["total"]) == ("2026-10-01", "0.70")
    assert not Invoice.objects.exists()


# --- property: total = sum of lines, and a re-run changes nothing -------------------------------

charge_docs = st.sampled_from([
    {"meter": "sms_segments", "model": "graduated", "tiers": TIERS},
    {"meter": "sms_segments", "model": "volume", "tiers": TIERS},
    {"meter": "sms_segments", "model": "per_unit", "unit_price": "0.0333"},
    {"meter": "im_messages", "model": "package", "package_size": 7, "package_price": "0.013"},
    {"meter": "voice_seconds", "model": "per_unit", "unit_price": "0.0173", "increments": [30, 6]},
])

_seq = iter(range(10**9))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(charges=st.lists(charge_docs, min_size=1, max_size=4),
       usage=st.lists(st.tuples(st.sampled_from(["sms_segments", "im_messages", "voice_seconds"]),
                                st.integers(0, 5000), st.integers(1, 31)), max_size=12),
       tax=st.sampled_from(["0", "0.0725", "0.2"]), fee=st.sampled_from(["0", "9.999"]))
def test_the_invoice_total_is_the_sum_of_its_lines_and_a_rerun_changes_nothing(db, charges, usage, tax, fee):
    n = next(_seq)
    tenant = Tenant.objects.create(name=f"T{n}")
    app = App.objects.create(tenant=tenant, name="a")
    BillingAccount.objects.create(tenant=tenant, tax_rate=D(tax))
    make_plan(tenant, code=f"p{n}", charges=charges, fixed_fee=fee, minimum="3.333")
    for meter, quantity, day in usage:
        use(app, meter, quantity, at(2026, 10, day, 12))
    first = invoice_refresh(tenant_id=tenant.pk, period_start=OCT)
    snapshot = (lines(first), first.subtotal_minor, first.tax_minor, first.total_minor)
    assert first.subtotal_minor == sum(line.amount_minor for line in first.lines.all())
    assert first.total_minor == first.subtotal_minor + first.tax_minor
    billing_run(period_start=OCT)
    again = Invoice.objects.get(pk=first.pk)
    assert (lines(again), again.subtotal_minor, again.tax_minor, again.total_minor) == snapshot


def test_a_rate_deck_csv_with_bad_rows_is_refused_whole_listing_each_line(db):
    from billing.models import PlanVersion
    from billing.plans import plan_import_rate_deck

    with pytest.raises(ApiError) as err:
        plan_import_rate_deck(code="deck", meter="sms_segments", csv_text="GB,0.04\nFR,x\nZZZ,1\nDE,0.05\n")
    assert (err.value.status, err.value.code) == (400, "invalid_rate_deck")
    assert [e["line"] for e in err.value.extra["errors"]] == [2, 3]
    assert not PlanVersion.objects.exists()
    version = plan_import_rate_deck(code="deck", meter="sms_segments", csv_text="GB,0.04\nDE,0.05\n")
    assert version.charges == [{"meter": "sms_segments", "model": "rate_deck", "rates": {"DE": "0.05", "GB": "0.04"}}]


def test_shards_of_the_billing_run_cover_every_tenant_once(tenant, other_provisioned):
    make_plan(tenant, fixed_fee="5")
    make_plan(other_provisioned.tenant, code="other", fixed_fee="7")
    counts = [billing_run(period_start=OCT, shard=(i, 3))["invoices"] for i in range(3)]
    assert sum(counts) == 2
    assert Invoice.objects.count() == 2


def test_the_beat_task_fans_the_previous_period_out_to_shards(tenant, monkeypatch):
    import time_machine

    from billing import tasks

    make_plan(tenant, fixed_fee="5")
    sent = []
    monkeypatch.setattr(tasks.run_shard, "delay", lambda *args: sent.append(args))
    with time_machine.travel(at(2026, 11, 1, 0, 30), tick=False):
        tasks.run_previous_period.run()
    assert sent == [("2026-10-01", i, tasks.RUN_SHARDS) for i in range(tasks.RUN_SHARDS)]
    results = [tasks.run_shard.run(*args) for args in sent]
    assert sum(r["invoices"] for r in results) == 1
    assert sum(tasks.run_shard.run(*args)["invoices"] for args in sent) == 1  # twice, one invoice
    assert Invoice.objects.count() == 1
