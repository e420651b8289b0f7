"""Who may void usage: the tenant only what it reported itself; platform-metered usage only an
operator, through ``billing_admin void-usage``, audited."""

from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from billing.models import UsageDaily, UsageEvent
from cpaas.tenants.keys import api_key_create
from cpaas.tenants.models import AuditLogEntry
from tests.conftest import client_for

from .conftest import at, use


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(at(2026, 10, 20, 12), tick=False):
        yield


def test_a_tenant_cannot_void_platform_metered_usage(api, app):
    use(app, "sms_segments", 3, at(2026, 10, 3), key="sms:msg_1", mode="test", country="GB")
    event = UsageEvent.objects.get()
    response = api.post(f"/v1/usage-events/{event.pk}/void", {"reason": "free SMS please"}, format="json")
    assert response.status_code == 403
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("usage_not_voidable", None)
    event.refresh_from_db()
    assert event.voided_at is None
    assert UsageDaily.objects.get().quantity == 3
    assert not AuditLogEntry.objects.filter(action="usage.void").exists()


def test_a_tenant_voids_usage_it_reported_itself(api, app):
    body = {"events": [{"meter": "api_requests", "quantity": "4", "occurred_at": "2026-10-03T10:00:00Z",
                        "idempotency_key": "mine"}]}
    api.post("/v1/usage-events", body, format="json")
    event = UsageEvent.objects.get()
    assert event.origin == "tenant"
    response = api.post(f"/v1/usage-events/{event.pk}/void", {"reason": "double import"}, format="json")
    assert response.status_code == 200
    assert UsageEvent.objects.get().voided_at is not None


def test_a_key_cannot_void_usage_of_the_other_mode(api, app):
    live = client_for(api_key_create(app=app, name="live", mode="live").secret)
    body = {"events": [{"meter": "api_requests", "quantity": "4", "occurred_at": "2026-10-03T10:00:00Z",
                        "idempotency_key": "live-import"}]}
    live.post("/v1/usage-events", body, format="json")
    event = UsageEvent.objects.get()
    response = api.post(f"/v1/usage-events/{event.pk}/void", {"reason": "x"}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    assert UsageEvent.objects.get().voided_at is None


def test_an_operator_voids_platform_usage_and_it_is_audited(app):
    use(app, "sms_segments", 3, at(2026, 10, 3), key="sms:msg_2", country="GB")
    event = UsageEvent.objects.get()
    out = StringIO()
    call_command("billing_admin", "void-usage", event.pk, "--reason", "carrier outage refund", stdout=out)
    assert f"{event.pk} voided" in out.getvalue()
    event.refresh_from_db()
    assert (event.voided_at is not None, event.void_reason) == (True, "carrier outage refund")
    assert UsageDaily.objects.get().quantity == 0
    entry = AuditLogEntry.objects.get(action="usage.void")
    assert (entry.target_id, entry.actor, entry.metadata["by"]) == (event.pk, "operator-cli", "operator")


def test_the_operator_command_needs_a_reason_and_a_known_event(app):
    use(app, "sms_segments", 3, at(2026, 10, 3), key="sms:msg_3")
    with pytest.raises(CommandError):
        call_command("billing_admin", "void-usage", "use_missing", "--reason", "x")
    with pytest.raises(CommandError):
        call_command("billing_admin", "void-usage", UsageEvent.objects.get().pk)


def test_a_tenant_import_cannot_take_the_key_of_platform_metered_usage(app):
    # The platform meters a message as "sms:{id}" once it is sent; the id is known at 201. A tenant
    # that imported that key first kept the message off the bill (voiding its own event) or made
    # the dispatcher's usage write conflict.
    live = client_for(api_key_create(app=app, name="live", mode="live").secret)
    body = {"events": [{"meter": "sms_segments", "quantity": "0", "occurred_at": "2026-10-03T10:00:00Z",
                        "idempotency_key": "sms:msg_about_to_be_sent"}]}
    assert live.post("/v1/usage-events", body, format="json").json()["inserted"] == 1
    use(app, "sms_segments", 2, at(2026, 10, 3, 11), key="sms:msg_about_to_be_sent", country="GB")
    platform = UsageEvent.objects.get(origin="platform")
    assert (platform.idempotency_key, platform.quantity) == ("sms:msg_about_to_be_sent", 2)
    assert live.post("/v1/usage-events", body, format="json").json()["duplicates"] == 1
