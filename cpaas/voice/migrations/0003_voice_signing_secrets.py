"""The voice signing secret becomes stored (encrypted with the keyring), per app and mode.

Until now it was derived: ``whsec_`` + base64(HMAC-SHA256(SECRET_KEY, "cpaas-voice:" + app id)).
Every existing app keeps that secret, stored for both modes, so receivers keep verifying until the
owner rotates (decision 0871). The derivation is frozen here; the code no longer has it.
"""

import base64
import hashlib
import hmac

from django.conf import settings
from django.db import migrations, models

from cpaas.core import crypto


def _derived(app_id: str) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"cpaas-voice:{app_id}".encode(), hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(digest).decode()


def store_derived(apps, schema_editor):
    App = apps.get_model("tenants", "App")
    VoiceSettings = apps.get_model("voice", "VoiceSettings")
    rows = []
    for app_id in App.objects.values_list("pk", flat=True).iterator():
        secret = _derived(app_id)
        entry = {"secret": crypto.encrypt(secret), "hint": crypto.hint(secret)}
        rows.append(VoiceSettings(app_id=app_id, signing_secrets={"live": entry, "test": entry}))
    VoiceSettings.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)


class Migration(migrations.Migration):

    dependencies = [
        ("tenants", "0001_initial"),
        ("voice", "0002_engine_lease"),
    ]

    operations = [
        migrations.CreateModel(
            name="VoiceSettings",
            fields=[
                ("app", models.OneToOneField(on_delete=models.deletion.CASCADE, primary_key=True,
                                             related_name="voice_settings", serialize=False,
                                             to="tenants.app")),
                ("signing_secrets", models.JSONField(blank=True, default=dict)),
            ],
        ),
        migrations.RunPython(store_derived, migrations.RunPython.noop),
    ]
