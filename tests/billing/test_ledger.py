"""The usage ledger: validation, dedup forever, conflicts, rollups, DAU marks, late events, voids."""

from decimal import Decimal as D

import pytest
import time_machine
from django.db import transaction

from billing import ledger, record_usage, usage_batch
from billing.models import DauMark, UsageDaily, UsageEvent
from cpaas.core.errors import ApiError
from cpaas.tenants.models import AuditLogEntry

from .conftest import at, use


def test_record_usage_keeps_the_contract_signature(app):
    with time_machine.travel(at(2026, 10, 3, 9, 1), tick=False):
        record_usage(app, "sms_segments", 2, dimensions={"country": "GB"}, occurred_at=at(2026, 10, 3, 9),
                     idempotency_key="msg_1", mode="live")
    event = UsageEvent.objects.get(app=app, idempotency_key="msg_1")
    assert (event.quantity, event.mode, event.origin) == (D(2), "live", "platform")
    assert event.tenant_id == app.tenant_id
    assert event.bill_period.isoformat() == "2026-10-01"


def test_the_same_key_counts_once_forever(app):
    for _ in range(3):
        use(app, "sms_segments", 1, at(2026, 10, 3), key="same", country="GB")
    use(app, "sms_segments", 1, at(2026, 10, 3), received=at(2027, 6, 1), key="same", country="GB")
    assert UsageEvent.objects.filter(app=app).count() == 1
    assert UsageDaily.objects.get(app_id=app.pk).quantity == D(1)


def test_the_same_key_with_different_content_is_a_409(app):
    use(app, "sms_segments", 1, at(2026, 10, 3), key="k", country="GB")
    with pytest.raises(ApiError) as err:
        use(app, "sms_segments", 2, at(2026, 10, 3), key="k", country="GB")
    assert (err.value.status, err.value.code) == (409, "usage_key_conflict")


def test_a_conflict_inside_one_batch_is_a_409(app):
    with pytest.raises(ApiError) as err, transaction.atomic(), usage_batch():
        use(app, "sms_segments", 1, at(2026, 10, 3), key="k")
        use(app, "sms_segments", 3, at(2026, 10, 3), key="k")
    assert err.value.code == "usage_key_conflict"
    assert not UsageEvent.objects.exists()


@pytest.mark.parametrize(("meter", "quantity", "code", "param"), [
    ("sms_bananas", 1, "unknown_meter", "meter"),
    ("sms_segments", -1, "invalid_quantity", "quantity"),
    ("sms_segments", "abc", "invalid_quantity", "quantity"),
    ("sms_segments", 1.5, "invalid_quantity", "quantity"),
    ("sms_segments", "NaN", "invalid_quantity", "quantity"),
    ("sms_segments", "0.0000001", "invalid_quantity", "quantity"),
])
def test_it_refuses_bad_usage(app, meter, quantity, code, param):
    with pytest.raises(ApiError) as err:
        use(app, meter, quantity, at(2026, 10, 3))
    assert (err.value.code, err.value.param) == (code, param)


def test_dau_needs_a_subject(app):
    with pytest.raises(ApiError) as err:
        use(app, "im_dau", 1, at(2026, 10, 3))
    assert err.value.param == "subject"


def test_batched_writes_roll_up_per_day_and_dimension(app):
    with transaction.atomic(), usage_batch():
        for i in range(10):
            use(app, "sms_segments", 2, at(2026, 10, 3, i), country="GB")
        use(app, "sms_segments", 5, at(2026, 10, 3), country="FR")
        use(app, "sms_segments", 1, at(2026, 10, 4), country="GB")
        assert not UsageEvent.objects.exists()  # still buffered
    rollups = {(r.day.day, r.dimensions["country"]): (r.quantity, r.events, r.max_quantity)
               for r in UsageDaily.objects.filter(app_id=app.pk)}
    assert rollups == {(3, "GB"): (D(20), 10, D(2)), (3, "FR"): (D(5), 1, D(5)), (4, "GB"): (D(1), 1, D(1))}


def test_a_rolled_back_transaction_records_nothing(app):
    with pytest.raises(RuntimeError), transaction.atomic():
        record_usage(app, "sms_segments", 1, occurred_at=at(2026, 10, 3), idempotency_key="x", mode="test")
        raise RuntimeError("the send failed")
    assert not UsageEvent.objects.exists()
    assert not UsageDaily.objects.exists()


def test_only_a_subjects_first_activity_of_the_day_reaches_postgresql(app, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        use(app, "im_dau", 1, at(2026, 10, 3, 8), subject="alice")
    queries_before = UsageEvent.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        for hour in range(9, 20):
            use(app, "im_dau", 1, at(2026, 10, 3, hour), subject="alice")
        use(app, "im_dau", 1, at(2026, 10, 3, 9), subject="bob")
        use(app, "im_dau", 1, at(2026, 10, 4, 9), subject="alice")
    assert queries_before == 1
    assert UsageEvent.objects.count() == 3
    assert sorted(DauMark.objects.values_list("day__day", "subject")) == [(3, "alice"), (3, "bob"), (4, "alice")]


def test_dau_counts_once_even_when_redis_has_forgotten(app):
    use(app, "im_dau", 1, at(2026, 10, 3, 8), subject="alice", key="a1")
    use(app, "im_dau", 1, at(2026, 10, 3, 9), subject="alice", key="a2")
    assert DauMark.objects.count() == 1


def test_usage_within_the_grace_window_lands_in_its_period(app):
    event = use(app, "sms_segments", 1, at(2026, 10, 31, 23), received=at(2026, 11, 1, 11, 59))
    assert (event.bill_period.isoformat(), event.late) == ("2026-10-01", False)


def test_usage_after_the_grace_window_goes_to_the_open_period_as_late(app):
    event = use(app, "sms_segments", 1, at(2026, 10, 31, 23), received=at(2026, 11, 1, 12, 1))
    assert (event.bill_period.isoformat(), event.late) == ("2026-11-01", True)


def test_voiding_an_event_is_audited_and_keeps_the_row(app):
    use(app, "sms_segments", 3, at(2026, 10, 3), key="v", country="GB")
    use(app, "sms_segments", 2, at(2026, 10, 3), key="w", country="GB")
    event = UsageEvent.objects.get(idempotency_key="v")
    ledger.usage_void(tenant_id=app.tenant_id, event_id=event.pk, reason="carrier refunded", actor_key_id="key_x",
                      operator=True)
    event.refresh_from_db()
    assert event.voided_at is not None
    rollup = UsageDaily.objects.get(app_id=app.pk)
    assert (rollup.quantity, rollup.events, rollup.max_quantity) == (D(2), 1, D(2))
    entry = AuditLogEntry.objects.get(action="usage.void")
    assert (entry.target_id, entry.actor) == (event.pk, "key_x")


def test_another_tenant_cannot_void_my_usage(app, other_provisioned):
    use(app, "sms_segments", 3, at(2026, 10, 3), key="v")
    event = UsageEvent.objects.get(idempotency_key="v")
    with pytest.raises(ApiError) as err:
        ledger.usage_void(tenant_id=other_provisioned.tenant.pk, event_id=event.pk, reason="x", operator=True)
    assert err.value.code == "not_found"
