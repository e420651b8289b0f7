"""Migration messaging/0006: the old SMS callback rows move into the webhooks callback outbox,
keeping the ``webhook-id`` and body their earlier attempts were sent with (decision 0930)."""

import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from cpaas.messaging.models import Message
from webhooks.callback_models import Callback

BEFORE = [("messaging", "0005_senderpool_mode")]
AFTER = [("messaging", "0006_status_callbacks_in_the_outbox")]


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _migrate_to_latest() -> None:
    """Back to every app's newest migration, so the models the assertions use match the tables."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def _old_row(pk, app_id, message_id, payload, *, attempts=0, delivered=False):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO messaging_statuscallback (id, app_id, message_id, url, payload, attempts, next_attempt_at,"
            " delivered_at, last_status, last_error, created_at) VALUES (%s, %s, %s, 'https://hooks.example.com/s',"
            " %s::jsonb, %s, now(), CASE WHEN %s THEN now() END, NULL, '', now())",
            [pk, app_id, message_id, json.dumps(payload), attempts, delivered])


@pytest.mark.django_db(transaction=True)
def test_old_callbacks_move_to_the_outbox_with_their_webhook_id_and_body(app):
    _migrate(BEFORE)
    try:
        with connection.cursor() as cursor:
            for pk, mode in (("msg_live", "live"), ("msg_test", "test")):
                cursor.execute(
                    "INSERT INTO messaging_message (id, tenant_id, app_id, direction, mode, \"to\", sender,"
                    " sender_pool,"
                    " country, body, encoding, segments, status, sequence, error_code, error_message, reference,"
                    " status_callback, currency, connector, carrier_message_id, tried_connectors, attempts,"
                    " created_at) VALUES (%s, %s, %s, 'outbound', %s, '+15005550000', 'Acme', '', 'US', 'hi',"
                    " 'GSM-7', 1, 'sent', 3, '', '', '', 'https://hooks.example.com/s', '', '', '', '[]', 0, now())",
                    [pk, app.tenant_id, app.id, mode])
        sent = {"id": "msg_live.3", "type": "message.sent", "created": "2026-12-06T20:00:00+00:00",
                "data": {"id": "msg_live", "status": "sent", "sequence": 3}}
        _old_row("scb_pending", app.id, "msg_live", sent, attempts=2)
        _old_row("scb_done", app.id, "msg_test", {**sent, "id": "msg_test.2",
                                                  "data": {"id": "msg_test", "status": "sent"}}, delivered=True)
        _old_row("scb_gone", app.id, "msg_test", {**sent, "id": "msg_test.4", "type": "message.delivered",
                                                  "data": {"id": "msg_test", "status": "delivered"}}, attempts=8)
        with connection.cursor() as cursor:
            cursor.execute("SELECT payload FROM messaging_statuscallback WHERE id = 'scb_pending'")
            stored = cursor.fetchone()[0]
            stored = json.loads(stored) if isinstance(stored, str) else stored
    finally:
        _migrate(AFTER)
        _migrate_to_latest()
    rows = {row.id: row for row in Callback.objects.all()}
    assert set(rows) == {"msg_live.3", "msg_test.2", "msg_test.4"}
    pending = rows["msg_live.3"]
    # the bytes the old sender posted: the stored payload, compact
    assert pending.body == json.dumps(stored, separators=(",", ":"))
    assert (pending.status, pending.attempts, pending.channel, pending.type, pending.idempotency_key) == (
        "pending", 2, "sms", "message.sent", "msg_live:sent")
    assert pending.next_attempt_at is not None
    assert (rows["msg_test.2"].status, rows["msg_test.2"].channel) == ("delivered", "sms.test")
    assert (rows["msg_test.4"].status, rows["msg_test.4"].next_attempt_at) == ("failed", None)
    assert Message.objects.get(pk="msg_live").status_callback_events == []
