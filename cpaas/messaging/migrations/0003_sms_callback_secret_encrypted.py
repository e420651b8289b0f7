"""The SMS callback secret is stored encrypted with the platform keyring, one per mode; the plain
column goes. An existing secret keeps signing both modes, so receivers keep verifying."""

from django.db import migrations, models

from cpaas.core import crypto


def encrypt_existing(apps, schema_editor):
    SmsSettings = apps.get_model("messaging", "SmsSettings")
    for row in SmsSettings.objects.exclude(callback_secret="").only("pk", "callback_secret").iterator():
        entry = {"secret": crypto.encrypt(row.callback_secret), "hint": crypto.hint(row.callback_secret)}
        SmsSettings.objects.filter(pk=row.pk).update(callback_secrets={"live": entry, "test": entry})


def decrypt_back(apps, schema_editor):
    SmsSettings = apps.get_model("messaging", "SmsSettings")
    for row in SmsSettings.objects.exclude(callback_secrets={}).iterator():
        entry = row.callback_secrets.get("live") or row.callback_secrets.get("test")
        SmsSettings.objects.filter(pk=row.pk).update(callback_secret=crypto.decrypt(entry["secret"]))


class Migration(migrations.Migration):

    dependencies = [
        ("messaging", "0002_message_lean_writes"),
    ]

    operations = [
        migrations.AddField(
            model_name="smssettings",
            name="callback_secrets",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(encrypt_existing, decrypt_back),
        migrations.RemoveField(
            model_name="smssettings",
            name="callback_secret",
        ),
    ]
