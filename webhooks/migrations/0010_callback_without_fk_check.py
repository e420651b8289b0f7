import django.db.models.deletion
from django.db import migrations, models


def _drop_like_index(apps, schema_editor):
    """The varchar_pattern_ops copy of the id's index: nothing searches callback ids by prefix, and
    every recorded callback paid for it (decisions 0110, 1020)."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS webhooks_callback_id_56b5a7b7_like")


def _create_like_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE INDEX IF NOT EXISTS webhooks_callback_id_56b5a7b7_like "
                              "ON webhooks_callback (id varchar_pattern_ops)")


class Migration(migrations.Migration):

    dependencies = [
        ('tenants', '0001_initial'),
        ('webhooks', '0009_event_livemode_required'),
    ]

    operations = [
        migrations.AlterField(
            model_name='callback',
            name='app',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenants.app'),
        ),
        migrations.RunPython(_drop_like_index, _create_like_index),
    ]
