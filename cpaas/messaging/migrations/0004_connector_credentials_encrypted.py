"""Carrier credentials move out of ``Connector.config`` into one encrypted token; a constraint keeps
them out of the plain configuration from now on."""

from django.db import migrations, models

from cpaas.carriers import credentials

# Frozen here: the constraint of this migration must not change when the module's list grows.
FIELDS = ["api_key", "auth_token", "callback_token", "headers", "password", "secret", "token"]


def seal_existing(apps, schema_editor):
    Connector = apps.get_model("messaging", "Connector")
    for row in Connector.objects.all().iterator():
        if not any(name in (row.config or {}) for name in FIELDS):
            continue
        opened = credentials.unseal(row.credentials)
        plain, sealed = credentials.seal(row.config)
        if opened:  # already had sealed secrets: keep them, the plain ones win
            _, sealed = credentials.seal({**opened, **{k: v for k, v in row.config.items() if k in FIELDS}})
        Connector.objects.filter(pk=row.pk).update(config=plain, credentials=sealed)


def unseal_back(apps, schema_editor):
    Connector = apps.get_model("messaging", "Connector")
    for row in Connector.objects.exclude(credentials="").iterator():
        Connector.objects.filter(pk=row.pk).update(config={**row.config, **credentials.unseal(row.credentials)})


class Migration(migrations.Migration):

    dependencies = [
        ("messaging", "0003_sms_callback_secret_encrypted"),
    ]

    operations = [
        migrations.AddField(
            model_name="connector",
            name="credentials",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.RunPython(seal_existing, unseal_back),
        migrations.AddConstraint(
            model_name="connector",
            constraint=models.CheckConstraint(condition=~models.Q(config__has_any_keys=FIELDS),
                                              name="connector_config_without_credentials"),
        ),
    ]
