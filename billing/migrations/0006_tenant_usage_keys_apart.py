"""Keys of usage a tenant imported get the ``t:`` prefix new imports get (billing/api.py), so a
retried import from before this change is still a duplicate, not a second event. Rows whose key
would pass 200 characters keep theirs (they cannot collide with a prefixed one)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("billing", "0005_im_messages_dimension_kind"),
    ]

    operations = [
        migrations.RunSQL(
            "UPDATE billing_usageevent SET idempotency_key = 't:' || idempotency_key "
            "WHERE origin = 'tenant' AND length(idempotency_key) <= 198",
            "UPDATE billing_usageevent SET idempotency_key = substr(idempotency_key, 3) "
            "WHERE origin = 'tenant' AND substr(idempotency_key, 1, 2) = 't:'",
        ),
    ]
