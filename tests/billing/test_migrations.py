"""Data migrations of the billing room, run against the real models."""

import importlib
from datetime import UTC, date, datetime

from django.apps import apps
from django.db import connection

from billing.models import PlanVersion, UsageDaily, UsageEvent
from billing.plans import plan_create

rename = importlib.import_module("billing.migrations.0005_im_messages_dimension_kind")
keys = importlib.import_module("billing.migrations.0006_tenant_usage_keys_apart")


def test_the_im_messages_dimension_is_renamed_to_kind_everywhere(app):
    at = datetime(2026, 10, 3, tzinfo=UTC)
    UsageEvent.objects.create(tenant_id=app.tenant_id, app=app, meter="im_messages", quantity=3, occurred_at=at,
                              idempotency_key="old", dimensions={"conversation_type": "group"})
    UsageDaily.objects.create(tenant_id=app.tenant_id, app_id=app.pk, meter="im_messages", day=at.date(),
                              bill_period=date(2026, 10, 1), quantity=3, events=1,
                              dims_key='{"conversation_type":"group"}', dimensions={"conversation_type": "group"})
    version = plan_create(code="im", name="IM", currency="EUR", fixed_fee="0", minimum_commitment="0", charges=[
        {"meter": "im_messages", "model": "per_unit", "unit_price": "0.001", "group_by": "kind"}])
    PlanVersion.objects.filter(pk=version.pk).update(charges=[
        {"meter": "im_messages", "model": "per_unit", "unit_price": "0.001", "group_by": "conversation_type",
         "filter": {"conversation_type": "group"}}])
    rename.forwards(apps, None)
    assert UsageEvent.objects.get().dimensions == {"kind": "group"}
    rollup = UsageDaily.objects.get()
    assert (rollup.dimensions, rollup.dims_key) == ({"kind": "group"}, '{"kind":"group"}')
    charge = PlanVersion.objects.get(pk=version.pk).charges[0]
    assert (charge["group_by"], charge["filter"]) == ("kind", {"kind": "group"})


def test_tenant_keys_imported_before_the_prefix_get_it_and_platform_keys_do_not(app):
    at = datetime(2026, 10, 3, tzinfo=UTC)
    for origin, key in (("tenant", "imp-1"), ("platform", "sms:msg_1")):
        UsageEvent.objects.create(tenant_id=app.tenant_id, app=app, meter="sms_segments", quantity=1,
                                  occurred_at=at, idempotency_key=key, origin=origin)
    with connection.cursor() as cursor:
        cursor.execute(keys.Migration.operations[0].sql)
    assert dict(UsageEvent.objects.values_list("origin", "idempotency_key")) == {
        "tenant": "t:imp-1", "platform": "sms:msg_1"}
