"""Idempotency keys are scoped by app AND key mode (issue 13 finding 1).

Records written before this carry an empty mode and so never answer a new request; they expire
within IDEMPOTENCY_TTL_SECONDS like any other.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="idempotencykey",
            name="mode",
            field=models.CharField(default="", max_length=4),
            preserve_default=False,
        ),
        migrations.RemoveConstraint(
            model_name="idempotencykey",
            name="idempotency_unique_app_key",
        ),
        migrations.AddConstraint(
            model_name="idempotencykey",
            constraint=models.UniqueConstraint(fields=("app_id", "mode", "key"),
                                               name="idempotency_unique_app_mode_key"),
        ),
    ]
