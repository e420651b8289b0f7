"""A sender pool carries the mode of the key that made it (issue 13 finding 1).

Existing pools take the mode of their numbers (live if any number is live, else test).
"""

from django.db import migrations, models


def backfill(apps, schema_editor):
    SenderPool = apps.get_model("messaging", "SenderPool")
    SenderPool.objects.filter(numbers__mode="live").update(mode="live")


class Migration(migrations.Migration):

    dependencies = [
        ("messaging", "0004_connector_credentials_encrypted"),
    ]

    operations = [
        migrations.AddField(
            model_name="senderpool",
            name="mode",
            field=models.CharField(choices=[("test", "Test"), ("live", "Live")], default="test", max_length=4),
            preserve_default=False,
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
