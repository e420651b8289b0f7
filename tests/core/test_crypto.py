"""The keyring: one set of keys for every secret at rest, rotatable without losing a secret."""

import json
from io import StringIO

from cryptography.fernet import Fernet
from django.core.management import call_command

from cpaas.carriers.credentials import unseal
from cpaas.core import crypto
from cpaas.messaging import app_settings, services
from cpaas.messaging.connectors import connector_save
from cpaas.messaging.models import Connector, SmsSettings
from webhooks.crypto import secret_generate
from webhooks.models import Endpoint
from webhooks.services import _plain_secrets, _secret_entry, active_secrets


def test_a_hint_shows_only_the_prefix_and_the_last_four():
    assert crypto.hint("whsec_abcdefgh1234") == "whsec_…1234"
    assert crypto.hint("nounderscore9876") == "…9876"


def test_every_stored_secret_survives_a_key_rotation_and_the_old_key_can_then_go(app, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SECRET_ENCRYPTION_KEYS = [old]
    webhook_secret = secret_generate()
    endpoint = Endpoint.objects.create(app_id=app.pk, url="https://hooks.example.com/x", mode="test",
                                       event_types=[], enabled=True, secrets=[_secret_entry(webhook_secret)])
    caller = services.Caller(tenant_id=app.tenant_id, app_id=app.id, mode="test")
    sms_secret = services.callback_secret_rotate(caller=caller).callback_secret
    connector_save(id="acme", kind="smpp", config={"host": "h", "port": 2775, "password": "carrier-pw"})

    settings.SECRET_ENCRYPTION_KEYS = [new, old]
    out = StringIO()
    call_command("secrets_reencrypt", stdout=out)
    assert "carrier credentials: 1 re-encrypted" in out.getvalue()
    settings.SECRET_ENCRYPTION_KEYS = [new]  # the old key is gone: everything must still open
    _plain_secrets.clear()
    app_settings.caches_clear()
    crypto.forget_plain()
    assert active_secrets(Endpoint.objects.get(pk=endpoint.pk)) == [webhook_secret]
    assert app_settings.callback_secret(app.id, "test") == sms_secret
    assert unseal(Connector.objects.get(pk="acme").credentials) == {"password": "carrier-pw"}
    assert "carrier-pw" not in json.dumps(list(Connector.objects.values()), default=str)
    assert SmsSettings.objects.get(app=app).callback_secrets["test"]["hint"] == crypto.hint(sms_secret)
