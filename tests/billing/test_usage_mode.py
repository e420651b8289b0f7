"""Usage carries the mode of the key that caused it: test usage is shown, never invoiced."""

from datetime import date

import pytest
import time_machine

from billing import record_usage
from billing.invoices import invoice_refresh, invoice_upcoming
from billing.models import DauMark, UsageDaily, UsageEvent
from cpaas.tenants.keys import api_key_create
from tests.conftest import client_for

from .conftest import at, make_plan, use

OCT = date(2026, 10, 1)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(at(2026, 10, 20, 12), tick=False):
        yield


def test_record_usage_requires_the_mode(app):
    with pytest.raises(TypeError):
        record_usage(app, "sms_segments", 1, occurred_at=at(2026, 10, 3), idempotency_key="no-mode")


def test_test_usage_is_never_rated_onto_an_invoice(tenant, app):
    make_plan(tenant, charges=[{"meter": "sms_segments", "model": "per_unit", "unit_price": "0.10"},
                               {"meter": "im_dau", "model": "per_unit", "unit_price": "1"}])
    use(app, "sms_segments", 1000, at(2026, 10, 3), mode="test", country="GB")
    use(app, "sms_segments", 10, at(2026, 10, 3), mode="live", country="GB")
    use(app, "im_dau", 1, at(2026, 10, 3), subject="sandbox-user", mode="test")
    invoice = invoice_refresh(tenant_id=tenant.pk, period_start=OCT)
    amounts = {line.meter: (line.quantity, line.amount_minor) for line in invoice.lines.all()}
    assert amounts["sms_segments"] == (10, 100)
    assert amounts["im_dau"] == (0, 0)
    assert invoice.total_minor == 100
    upcoming = invoice_upcoming(tenant_id=tenant.pk)
    assert upcoming["total"] == "1.00"


def test_the_same_key_in_test_and_in_live_is_two_events(app):
    use(app, "sms_segments", 1, at(2026, 10, 3), key="sms:msg_1", mode="test")
    use(app, "sms_segments", 1, at(2026, 10, 3), key="sms:msg_1", mode="live")
    use(app, "im_dau", 1, at(2026, 10, 3), key="d1", subject="u", mode="test")
    use(app, "im_dau", 1, at(2026, 10, 3), key="d2", subject="u", mode="live")
    assert sorted(UsageEvent.objects.values_list("mode", flat=True)) == ["live", "live", "test", "test"]
    assert sorted(UsageDaily.objects.values_list("mode", flat=True)) == ["live", "test"]
    assert sorted(DauMark.objects.values_list("mode", flat=True)) == ["live", "test"]


def test_usage_api_shows_each_mode_apart(api, app):
    live = client_for(api_key_create(app=app, name="live", mode="live").secret)
    use(app, "sms_segments", 7, at(2026, 10, 3), mode="test")
    use(app, "sms_segments", 2, at(2026, 10, 3), mode="live")
    query = {"meter": "sms_segments", "from": "2026-10-01", "to": "2026-10-31"}
    test_view = api.get("/v1/usage", query).json()
    assert (test_view["mode"], test_view["data"]) == ("test", [{"period": "2026-10-03", "quantity": "7"}])
    assert live.get("/v1/usage", query).json()["data"] == [{"period": "2026-10-03", "quantity": "2"}]
    assert live.get("/v1/usage", {**query, "mode": "test"}).json()["data"] == [
        {"period": "2026-10-03", "quantity": "7"}]
    refused = api.get("/v1/usage", {**query, "mode": "live"})
    assert (refused.status_code, refused.json()["error"]["param"]) == (403, "mode")
    bad = api.get("/v1/usage", {**query, "mode": "both"})
    assert (bad.status_code, bad.json()["error"]["param"]) == (400, "mode")


def test_imported_usage_takes_the_mode_of_the_key(api, app):
    body = {"events": [{"meter": "sms_segments", "quantity": "2", "occurred_at": "2026-10-03T10:00:00Z",
                        "idempotency_key": "imp-1"}]}
    assert api.post("/v1/usage-events", body, format="json").status_code == 200
    assert UsageEvent.objects.get().mode == "test"
