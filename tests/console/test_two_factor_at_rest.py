"""Two-factor secrets at rest: a database dump reveals neither a TOTP seed nor a recovery code, and a
keyring rotation re-seals the seeds without anyone enrolling again."""

from __future__ import annotations

import base64
import hashlib
import importlib
from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.test import Client

from cpaas.console.models import AuthenticatorDevice, RecoveryCode
from cpaas.console.twofactor import code_verify
from tests.console.conftest import logged_in
from tests.console.test_two_factor import HOME, TWO_FACTOR, code_for, code_step, enrol_form, password_step

pytestmark = pytest.mark.django_db

legacy_migration = importlib.import_module("cpaas.console.migrations.0002_seal_legacy_otp_devices")


def enrol_with_secret(user) -> tuple[str, list[str]]:
    """Two-factor on through the pages; the base32 secret the user typed into their app, and the codes."""
    client = logged_in(user)
    secret, key = enrol_form(client)
    response = client.post(TWO_FACTOR, {"key": key, "code": code_for(secret)})
    assert response.status_code == 201
    return secret, response.context["codes"]


def hex_seed(secret: str) -> str:
    return base64.b32decode(secret + "=" * (-len(secret) % 8)).hex()


def raw_column(sql: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [value for (value,) in cursor.fetchall()]


def signs_in_with(code: str) -> bool:
    client = Client()
    password_step(client)
    return code_step(client, code).status_code == 302 and client.get(HOME).status_code == 200


def test_the_stored_seed_is_a_keyring_token_and_the_app_s_codes_still_sign_in(owner):
    secret, _ = enrol_with_secret(owner)
    [stored] = raw_column("SELECT key_sealed FROM console_authenticatordevice")
    seed = hex_seed(secret)
    assert seed not in stored and secret not in stored and secret.lower() not in stored
    assert stored.startswith("gAAAAA")  # a Fernet token
    assert AuthenticatorDevice.objects.get(user=owner).key == seed
    assert signs_in_with(code_for(secret, steps_ahead=1))


def test_recovery_codes_are_stored_hashed_and_each_signs_in_once(owner):
    _, codes = enrol_with_secret(owner)
    stored = raw_column("SELECT code_hash FROM console_recoverycode")
    plain = [code.replace("-", "") for code in codes]
    assert len(plain[0]) == 16  # 80 random bits
    assert sorted(stored) == sorted(hashlib.sha256(code.encode()).hexdigest() for code in plain)
    assert not any(code in value for code in plain for value in stored)
    assert signs_in_with(codes[3])
    assert RecoveryCode.objects.filter(device__user=owner).count() == 9
    assert not signs_in_with(codes[3])


def test_secrets_reencrypt_reseals_the_seeds_with_the_new_key_and_codes_still_verify(owner, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SECRET_ENCRYPTION_KEYS = [old]
    secret, _ = enrol_with_secret(owner)
    [before] = raw_column("SELECT key_sealed FROM console_authenticatordevice")

    settings.SECRET_ENCRYPTION_KEYS = [new, old]
    out = StringIO()
    call_command("secrets_reencrypt", stdout=out)
    assert "console two-factor seeds: 1 re-encrypted" in out.getvalue()
    [after] = raw_column("SELECT key_sealed FROM console_authenticatordevice")
    assert after != before
    assert MultiFernet([Fernet(new)]).decrypt(after.encode()).decode() == hex_seed(secret)
    with pytest.raises(InvalidToken):
        MultiFernet([Fernet(old)]).decrypt(after.encode())

    settings.SECRET_ENCRYPTION_KEYS = [new]  # the old key is gone
    assert signs_in_with(code_for(secret, steps_ahead=1))


def test_devices_made_with_django_otp_s_plugins_are_sealed_and_the_plain_rows_deleted(owner):
    seed = "3132333435363738393031323334353637383930"  # RFC 6238's test seed
    with connection.cursor() as cursor:  # the plugins' tables, as databases from before 0880 have them
        cursor.execute('CREATE TABLE otp_totp_totpdevice (id serial PRIMARY KEY, user_id int, name varchar(64), '
                       'confirmed bool, "key" varchar(80), step smallint, t0 bigint, digits smallint, '
                       "tolerance smallint, drift smallint, last_t bigint)")
        cursor.execute("CREATE TABLE otp_static_staticdevice (id serial PRIMARY KEY, user_id int, "
                       "name varchar(64), confirmed bool)")
        cursor.execute("CREATE TABLE otp_static_statictoken (id serial PRIMARY KEY, device_id int, token varchar(16))")
        cursor.execute("INSERT INTO otp_totp_totpdevice (user_id, name, confirmed, \"key\", step, t0, digits, "
                       "tolerance, drift, last_t) VALUES (%s, 'Authenticator app', true, %s, 30, 0, 6, 1, 0, -1)",
                       [owner.pk, seed])
        cursor.execute("INSERT INTO otp_static_staticdevice (user_id, name, confirmed) "
                       "VALUES (%s, 'Recovery codes', true) RETURNING id", [owner.pk])
        [static_id] = cursor.fetchone()
        cursor.execute("INSERT INTO otp_static_statictoken (device_id, token) VALUES (%s, 'abcd2345'), "
                       "(%s, 'efgh6789')", [static_id, static_id])

    with connection.schema_editor() as editor:
        legacy_migration.seal_legacy_devices(apps, editor)

    assert raw_column("SELECT count(*) FROM otp_totp_totpdevice") == [0]
    assert raw_column("SELECT count(*) FROM otp_static_statictoken") == [0]
    device = AuthenticatorDevice.objects.get(user=owner)
    assert seed not in device.key_sealed and device.key == seed
    assert code_verify(owner, code_for(device, steps_ahead=1)) == device
    assert code_verify(owner, "EFGH-6789") is not None
    assert code_verify(owner, "efgh6789") is None  # once
    assert RecoveryCode.objects.filter(device__user=owner).count() == 1
