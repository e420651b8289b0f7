"""SMS status callbacks move to the webhooks room's callback outbox (docs/decisions/0930).

Every ``StatusCallback`` row becomes a ``webhooks.Callback``: pending ones go on being retried by
the webhooks workers, delivered and given-up ones stay visible in the console. A migrated row
keeps the ``webhook-id`` and the exact body its earlier attempts were sent with (the old payload
id, ``msg_….<sequence>``, and the payload as the old sender serialized it), so a receiver that
already saw one of them still recognises the retry as a duplicate.
"""

import json

from django.db import migrations, models

CHUNK = 2000
OLD_MAX_ATTEMPTS = 8  # the old SMS_CALLBACK_MAX_ATTEMPTS default: a row with this many was given up


def _callback(Callback, row):
    payload = row.payload
    if row.delivered_at is not None:
        status = "delivered"
    elif row.attempts >= OLD_MAX_ATTEMPTS:
        status = "failed"
    else:
        status = "pending"
    return Callback(
        id=payload["id"], app_id=row.app_id, channel="sms" if row.message.mode == "live" else "sms.test",
        url=row.url, type=payload["type"], body=json.dumps(payload, separators=(",", ":")),
        idempotency_key=f"{row.message_id}:{payload['data']['status']}", status=status,
        attempts=row.attempts, next_attempt_at=row.next_attempt_at if status == "pending" else None,
        last_status_code=row.last_status, last_error=row.last_error, delivered_at=row.delivered_at,
        created_at=row.created_at)


def forwards(apps, schema_editor):
    StatusCallback = apps.get_model("messaging", "StatusCallback")
    Callback = apps.get_model("webhooks", "Callback")
    rows = StatusCallback.objects.select_related("message").only(
        "app_id", "message__mode", "url", "payload", "attempts", "next_attempt_at", "delivered_at",
        "last_status", "last_error", "created_at").order_by("pk")
    batch = []
    for row in rows.iterator(chunk_size=CHUNK):
        batch.append(_callback(Callback, row))
        if len(batch) >= CHUNK:
            Callback.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    Callback.objects.bulk_create(batch, ignore_conflicts=True)


class Migration(migrations.Migration):

    dependencies = [
        ("messaging", "0005_senderpool_mode"),
        ("webhooks", "0004_callback_outbox"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="status_callback_events",
            field=models.JSONField(blank=True, default=list),
        ),
        # Forwards only: the outbox rows stay where they are if this is unapplied.
        migrations.RunPython(forwards, migrations.RunPython.noop),
        migrations.DeleteModel(
            name="StatusCallback",
        ),
    ]
