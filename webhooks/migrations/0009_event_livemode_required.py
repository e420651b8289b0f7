"""Every event has a mode (docs/decisions/0890): an old event published without one takes the
mode of what it is about where its data names it, else live; then the column is NOT NULL."""

from django.db import migrations, models

# Each statement sets the NULL events it can attribute; the last makes the rest live.
_DERIVE = [
    # SMS: message.* events carry the message id.
    """UPDATE webhooks_event e SET livemode = (m.mode = 'live') FROM messaging_message m
       WHERE e.livemode IS NULL AND e.type LIKE 'message.%' AND m.id = e.data->>'id'""",
    # Voice: call.*, call.leg.*, call.recording.*, call.error carry call_id.
    """UPDATE webhooks_event e SET livemode = (c.mode = 'live') FROM voice_call c
       WHERE e.livemode IS NULL AND e.type LIKE 'call.%' AND c.id = e.data->>'call_id'""",
    # IM: message events carry the conversation, presence events the user.
    """UPDATE webhooks_event e SET livemode = (c.mode = 'live') FROM im_conversation c
       WHERE e.livemode IS NULL AND e.type LIKE 'im.message.%' AND c.id = e.data->>'conversation_id'""",
    """UPDATE webhooks_event e SET livemode = (u.mode = 'live') FROM im_imuser u
       WHERE e.livemode IS NULL AND e.type LIKE 'im.user.%' AND u.app_id = e.app_id
         AND u.user_id = e.data->>'user_id'""",
    # The room's own notices are about an endpoint: its mode.
    """UPDATE webhooks_event e SET livemode = (p.mode = 'live') FROM webhooks_endpoint p
       WHERE e.livemode IS NULL AND (e.type LIKE 'webhook.%' OR e.type LIKE 'webhook\\_endpoint.%')
         AND p.id = e.data->>'endpoint_id'""",
    # Billing is live money; anything else unattributable is live too (fail closed: a test key
    # never sees it; a live key already saw it).
    "UPDATE webhooks_event SET livemode = true WHERE livemode IS NULL",
]


def derive(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        for sql in _DERIVE:
            cursor.execute(sql)


class Migration(migrations.Migration):

    dependencies = [
        ("webhooks", "0008_attempt_without_fk_check"),
        ("messaging", "0001_initial"),
        ("voice", "0001_initial"),
        ("im", "0002_im_mode"),
    ]

    operations = [
        migrations.RunPython(derive, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="event",
            name="livemode",
            field=models.BooleanField(),
        ),
    ]
