"""Move devices made with django-otp's TOTP and static plugins (the console used them before decision
0880) into the console's own devices: the seed sealed with the keyring, recovery codes hashed; then
delete the plain rows. The plugins are no longer installed, so their tables (if this database has
them) are read with SQL; a database created after 0880 has none, and this does nothing.
"""

import hashlib

from django.db import migrations

from cpaas.core import crypto

LEGACY_TOTP = "otp_totp_totpdevice"
LEGACY_STATIC = "otp_static_staticdevice"
LEGACY_TOKEN = "otp_static_statictoken"


def seal_legacy_devices(apps, schema_editor) -> None:
    connection = schema_editor.connection
    tables = set(connection.introspection.table_names())
    authenticator = apps.get_model("console", "AuthenticatorDevice")
    recovery_device = apps.get_model("console", "RecoveryCodeDevice")
    recovery_code = apps.get_model("console", "RecoveryCode")
    with connection.cursor() as cursor:
        if LEGACY_TOTP in tables:
            cursor.execute(f'SELECT user_id, name, confirmed, "key", step, t0, digits, tolerance, drift, last_t '
                           f"FROM {LEGACY_TOTP}")
            for user_id, name, confirmed, key, step, t0, digits, tolerance, drift, last_t in cursor.fetchall():
                authenticator.objects.create(user_id=user_id, name=name, confirmed=confirmed,
                                             key_sealed=crypto.encrypt(key), step=step, t0=t0, digits=digits,
                                             tolerance=tolerance, drift=drift, last_t=last_t)
            cursor.execute(f"DELETE FROM {LEGACY_TOTP}")
        if LEGACY_STATIC in tables and LEGACY_TOKEN in tables:
            cursor.execute(f"SELECT id, user_id, name, confirmed FROM {LEGACY_STATIC}")
            for legacy_id, user_id, name, confirmed in cursor.fetchall():
                device = recovery_device.objects.create(user_id=user_id, name=name, confirmed=confirmed)
                cursor.execute(f"SELECT token FROM {LEGACY_TOKEN} WHERE device_id = %s", [legacy_id])
                recovery_code.objects.bulk_create([
                    recovery_code(device=device, code_hash=hashlib.sha256(token.lower().encode()).hexdigest())
                    for (token,) in cursor.fetchall()
                ])
            cursor.execute(f"DELETE FROM {LEGACY_TOKEN}")
            cursor.execute(f"DELETE FROM {LEGACY_STATIC}")


class Migration(migrations.Migration):

    dependencies = [
        ("console", "0001_two_factor_devices"),
    ]

    operations = [
        migrations.RunPython(seal_legacy_devices, migrations.RunPython.noop),
    ]
