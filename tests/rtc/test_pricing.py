"""Participant-minutes are a meter like any other: a plan prices them by tier, live usage only."""

from datetime import date

import pytest
import time_machine

from billing.invoices import invoice_refresh, invoice_upcoming
from tests.billing.conftest import at, make_plan, use

OCT = date(2026, 10, 1)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(at(2026, 10, 20, 12), tick=False):
        yield


def test_a_plan_prices_audio_minutes_and_never_test_minutes(tenant, app):
    make_plan(tenant, charges=[{"meter": "rtc_participant_minutes", "model": "per_unit", "unit_price": "0.004",
                                "filter": {"tier": "audio"}}])
    use(app, "rtc_participant_minutes", 3, at(2026, 10, 3), media="audio", tier="audio", room="rtcr_a")
    use(app, "rtc_participant_minutes", 2, at(2026, 10, 4), media="audio", tier="audio", room="rtcr_b")
    use(app, "rtc_participant_minutes", 500, at(2026, 10, 4), mode="test", media="audio", tier="audio",
        room="rtcr_t")
    invoice = invoice_refresh(tenant_id=tenant.pk, period_start=OCT)
    line = invoice.lines.get(meter="rtc_participant_minutes")
    assert line.quantity == 5
    assert line.amount_minor == 2  # 5 * 0.004 EUR = 0.02 EUR
    assert invoice_upcoming(tenant_id=tenant.pk)["total"] == "0.02"
