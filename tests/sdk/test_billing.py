from datetime import date

import pytest

from billing.invoices import credit_note_create, invoice_finalize, invoice_refresh
from billing.models import UsageEvent
from cpaas_sdk import InvalidRequest, NotFound
from tests.billing.conftest import _clean_redis_marks, at, make_plan, use  # noqa: F401 (fixture)

OCT = date(2026, 10, 1)


@pytest.fixture
def finalized(live, tenant, app):
    """A finalized October invoice of the live mode (usage recorded through the ledger)."""
    make_plan(tenant, fixed_fee="10", charges=[{"meter": "sms_segments", "model": "graduated", "tiers": [
        {"up_to": 100, "unit_price": "0.05"}, {"up_to": None, "unit_price": "0.04"}]}])
    use(app, "sms_segments", 150, at(2026, 10, 3))
    invoice = invoice_refresh(tenant_id=tenant.pk, period_start=OCT, now=at(2026, 11, 1, 12))
    return invoice_finalize(tenant_id=tenant.pk, invoice_id=invoice.pk, now=at(2026, 11, 1, 13))


def test_invoices_list_fetch_and_download(live_client, finalized):
    (listed,) = live_client.invoices.list()
    assert listed.id == finalized.pk
    invoice = live_client.invoices.retrieve(finalized.pk)
    assert invoice.total == "17.00"
    assert live_client.invoices.pdf(finalized.pk).startswith(b"%PDF")
    assert b"INV-2026-000001" in live_client.invoices.csv(finalized.pk)
    assert live_client.invoices.upcoming() is not None


def test_credit_notes(live_client, tenant, finalized):
    note = credit_note_create(tenant_id=tenant.pk, invoice_id=finalized.pk, amount="2.00", reason="goodwill")
    assert [n.id for n in live_client.credit_notes.list(invoice=finalized.pk)] == [note.pk]
    assert live_client.credit_notes.retrieve(note.pk).subtotal == "2.00"


def test_an_unknown_invoice_is_not_found(live_client):
    with pytest.raises(NotFound):
        live_client.invoices.pdf("inv_01HZZZZZZZZZZZZZZZZZZZZZZZ")


def test_usage_import_query_void_and_active_subjects(client):
    imported = client.usage_events.create([{"meter": "sms_segments", "quantity": "2",
                                            "occurred_at": "2026-10-03T10:00:00Z", "idempotency_key": "imp-1",
                                            "dimensions": {"country": "GB"}}])
    assert imported.inserted == 1
    voided = client.usage_events.void(UsageEvent.objects.get().pk, reason="duplicate CDR")
    assert voided.void_reason == "duplicate CDR"
    usage = client.usage.retrieve(meter="sms_segments", from_="2026-10-01", to="2026-10-31")
    assert usage.object == "usage"
    assert list(client.usage.active_subjects(day="2026-10-03")) == []
    with pytest.raises(InvalidRequest) as caught:
        client.usage.retrieve(meter="bananas")
    assert (caught.value.code, caught.value.param) == ("unknown_meter", "meter")
