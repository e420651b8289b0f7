# Claims go per endpoint (docs/decisions/0109): due rows are found through
# (endpoint_id, next_attempt_at) of pending deliveries, and the global due index goes.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0004_callback_outbox'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='delivery',
            index=models.Index(condition=models.Q(('status', 'pending')), fields=['endpoint', 'next_attempt_at'],
                               name='delivery_endpoint_due_idx'),
        ),
        migrations.RemoveIndex(
            model_name='delivery',
            name='delivery_due_idx',
        ),
    ]
