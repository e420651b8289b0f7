"""The message row is the hottest insert: drop what each insert paid for and nothing reads.

Two deferred FK checks (each a ``FOR KEY SHARE`` lock on the tenant's and the app's row), the
single-column ``app_id`` index and the ``varchar_pattern_ops`` (LIKE) twins of ``app_id``,
``tenant_id`` and ``id`` (no query matches message ids or owners by prefix). Listing by tenant
(the console) keeps ``msg_tenant_idx``. docs/decisions/0415-sms-send-lean-row.md.
"""

import django.db.models.deletion
from django.db import migrations, models


def _id_like_index(schema_editor) -> str:
    return schema_editor._create_index_name("messaging_message", ["id"], suffix="_like")


def drop_id_like(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(_id_like_index(schema_editor))}")


def create_id_like(apps, schema_editor):
    schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {schema_editor.quote_name(_id_like_index(schema_editor))} "
                          "ON messaging_message (id varchar_pattern_ops)")


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0001_initial'),
        ('tenants', '0001_initial'),
    ]

    operations = [
        migrations.AlterField(
            model_name='message',
            name='app',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT,
                                    related_name='messages', to='tenants.app'),
        ),
        migrations.AlterField(
            model_name='message',
            name='tenant',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT,
                                    related_name='+', to='tenants.tenant'),
        ),
        migrations.AddIndex(
            model_name='message',
            index=models.Index(fields=['tenant', 'id'], name='msg_tenant_idx'),
        ),
        migrations.RunPython(drop_id_like, create_id_like, elidable=False),
    ]
