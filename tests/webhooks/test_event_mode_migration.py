"""Migration webhooks/0009: events recorded without a mode get one (decision 0890)."""

import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from cpaas.im.models import ImUser
from webhooks.models import Event
from webhooks.services import endpoint_create

BEFORE = [("webhooks", "0008_attempt_without_fk_check")]
AFTER = [("webhooks", "0009_event_livemode_required")]


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _insert(app_id: str, pk: str, type_: str, data: dict, livemode) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO webhooks_event (id, app_id, type, data, idempotency_key, subject, sequence, livemode,"
            " created_at) VALUES (%s, %s, %s, %s::jsonb, %s, '', 0, %s, now())",
            [pk, app_id, type_, json.dumps(data), pk, livemode])


@pytest.mark.django_db(transaction=True)
def test_events_without_a_mode_take_their_subjects_else_live(app):
    test_endpoint = endpoint_create(app_id=app.id, mode="test", url="https://hooks.example.com/t").endpoint
    ImUser.objects.create(app=app, tenant_id=app.tenant_id, mode="test", user_id="tess")
    _migrate(BEFORE)
    try:
        _insert(app.id, "evt_notice", "webhook_endpoint.disabled", {"endpoint_id": test_endpoint.id}, None)
        _insert(app.id, "evt_online", "im.user.online", {"user_id": "tess"}, None)
        _insert(app.id, "evt_invoice", "invoice.finalized", {"id": "in_1"}, None)
        _insert(app.id, "evt_unknown", "message.sent", {"id": "msg_gone"}, None)
        _insert(app.id, "evt_stated", "message.sent", {"id": "msg_2"}, False)
    finally:
        _migrate(AFTER)

    modes = dict(Event.objects.values_list("id", "livemode"))
    assert modes == {"evt_notice": False, "evt_online": False, "evt_invoice": True, "evt_unknown": True,
                     "evt_stated": False}
    with connection.cursor() as cursor:
        cursor.execute("SELECT is_nullable FROM information_schema.columns "
                       "WHERE table_name = 'webhooks_event' AND column_name = 'livemode'")
        assert cursor.fetchone()[0] == "NO"
