# Every claim and result rewrites a delivery row in every index (the updates touch indexed
# columns, so they are never HOT): drop the indexes nothing reads (docs/decisions/0109). The
# single-column FK indexes duplicate composite ones that lead with the same column, and the
# varchar_pattern_ops ("_like") copies of ids serve only LIKE queries, which nothing runs.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0005_delivery_endpoint_due_idx'),
    ]

    operations = [
        migrations.AlterField(
            model_name='attempt',
            name='delivery',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='attempt_log', to='webhooks.delivery'),
        ),
        migrations.AlterField(
            model_name='delivery',
            name='endpoint',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='webhooks.endpoint'),
        ),
        migrations.AlterField(
            model_name='delivery',
            name='event',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='webhooks.event'),
        ),
        # Not in Django's model state (it adds them for CharField keys on PostgreSQL): plain SQL,
        # valid on SQLite too (where they never existed).
        migrations.RunSQL(
            "DROP INDEX IF EXISTS webhooks_delivery_id_b47d672f_like; "
            "DROP INDEX IF EXISTS webhooks_delivery_app_id_ba6eea33_like; "
            "DROP INDEX IF EXISTS webhooks_attempt_id_29cfffd7_like",
            migrations.RunSQL.noop,
        ),
    ]
