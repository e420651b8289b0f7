"""The SMS callback secret: encrypted at rest, one per mode, shown once, never created by a read."""

import json

from standardwebhooks import Webhook

from cpaas.messaging.app_settings import callback_secret
from cpaas.messaging.dispatch import dispatch_batch
from cpaas.messaging.models import SmsSettings
from cpaas.tenants.keys import api_key_create
from cpaas.tenants.models import AuditLogEntry
from tests.conftest import client_for
from tests.messaging.conftest import send
from tests.support.receiver import start_receiver
from webhooks.callback_models import Callback
from webhooks.callbacks import callbacks_deliver

ROTATE = "/v1/sms/settings/rotate-callback-secret"


def test_reading_the_settings_writes_nothing_and_shows_no_secret(api, app):
    body = api.get("/v1/sms/settings").json()
    assert body["callback_secret_hint"] is None
    assert "callback_secret" not in body
    assert not SmsSettings.objects.filter(app=app).exists()


def test_the_first_write_shows_the_secret_once_then_only_its_hint(api, app):
    first = api.post("/v1/sms/settings", {}, format="json").json()
    secret = first["callback_secret"]
    assert secret.startswith("whsec_")
    assert first["callback_secret_hint"] == f"whsec_…{secret[-4:]}"
    again = api.post("/v1/sms/settings", {}, format="json").json()
    assert "callback_secret" not in again
    read = api.get("/v1/sms/settings").json()
    assert "callback_secret" not in read and read["callback_secret_hint"] == first["callback_secret_hint"]
    assert callback_secret(app.id, "test") == secret


def test_the_secret_is_stored_only_encrypted(api, app):
    secret = api.post("/v1/sms/settings", {}, format="json").json()["callback_secret"]
    stored = json.dumps(SmsSettings.objects.filter(app=app).values().get(), default=str)
    assert secret not in stored and secret.removeprefix("whsec_") not in stored


def test_rotation_shows_a_new_secret_once_signs_with_it_and_is_audited(api, app, allow_loopback):
    old = api.post("/v1/sms/settings", {}, format="json").json()["callback_secret"]
    rotated = api.post(ROTATE)
    assert rotated.status_code == 200
    new = rotated.json()["callback_secret"]
    assert new != old and rotated.json()["callback_secret_hint"] == f"whsec_…{new[-4:]}"
    assert "callback_secret" not in api.get("/v1/sms/settings").json()
    assert AuditLogEntry.objects.filter(action="sms.callback_secret_rotated", target_id=app.id).exists()

    receiver, server = start_receiver()  # the tenant's server, on loopback (allowed here)
    try:
        assert send(api, status_callback=f"{receiver.base}/sms", to="+15005550005").status_code == 201
        dispatch_batch()
        assert Callback.objects.exists()
        callbacks_deliver()
    finally:
        server.shutdown()
        server.server_close()
    headers, body = receiver.posted("/sms")[0]
    Webhook(new).verify(body, headers)


def test_a_test_key_never_sees_or_changes_the_live_secret(api, app):
    live = client_for(api_key_create(app=app, name="live", mode="live").secret)
    live_secret = live.post("/v1/sms/settings", {}, format="json").json()["callback_secret"]
    test_secret = api.post(ROTATE).json()["callback_secret"]
    assert test_secret != live_secret
    assert callback_secret(app.id, "live") == live_secret
    assert api.get("/v1/sms/settings").json()["callback_secret_hint"] == f"whsec_…{test_secret[-4:]}"
    assert live.get("/v1/sms/settings").json()["callback_secret_hint"] == f"whsec_…{live_secret[-4:]}"


def test_rotation_needs_a_management_key(app):
    sms_only = client_for(api_key_create(app=app, name="sms", products=["sms"]).secret)
    assert sms_only.post(ROTATE).status_code == 403
