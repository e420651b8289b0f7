"""The voice signing secret: stored encrypted, one per mode, shown once, never created by a read."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import json
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.apps import apps as django_apps
from django.core.management import call_command
from django.test import Client
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cpaas.core import crypto
from cpaas.tenants.keys import api_key_create
from cpaas.tenants.models import AuditLogEntry
from cpaas.voice import signing
from cpaas.voice.models import VoiceSettings
from tests.conftest import client_for
from webhooks.callbacks import _signers

SETTINGS = "/v1/voice/settings"
ROTATE = "/v1/voice/settings/rotate-signing-secret"
APP_URL = "https://tenant.example/voice"


@pytest.fixture
def owner(provisioned) -> Client:
    client = Client()
    client.force_login(provisioned.user)
    return client


def _place(api) -> str:
    response = api.post("/v1/calls", {"to": "+12025550123", "from": "+15005559000", "url": APP_URL}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_reading_the_settings_writes_nothing_and_shows_no_secret(api, app):
    body = api.get(SETTINGS).json()
    assert body == {"object": "voice_settings", "signing_secret_hint": None}
    assert not VoiceSettings.objects.filter(app=app).exists()


def test_rotation_shows_the_secret_once_then_only_its_hint(api, app):
    rotated = api.post(ROTATE)
    assert rotated.status_code == 200
    secret = rotated.json()["signing_secret"]
    assert secret.startswith("whsec_") and rotated.json()["signing_secret_hint"] == f"whsec_…{secret[-4:]}"
    read = api.get(SETTINGS).json()
    assert "signing_secret" not in read and read["signing_secret_hint"] == f"whsec_…{secret[-4:]}"
    entry = AuditLogEntry.objects.get(action="voice.signing_secret_rotated", target_id=app.id)
    assert entry.metadata == {"mode": "test", "hint": f"whsec_…{secret[-4:]}"} and entry.actor_key_id


def test_the_secret_is_stored_only_encrypted(api, app):
    secret = api.post(ROTATE).json()["signing_secret"]
    stored = json.dumps(VoiceSettings.objects.filter(app=app).values().get(), default=str)
    assert secret not in stored and secret.removeprefix("whsec_") not in stored


def test_after_a_rotation_the_next_fetch_is_signed_with_the_new_secret(api, app, voice):
    voice.route(APP_URL, "<Response><Say>Hi</Say></Response>")
    voice.run(_place(api))  # the first fetch: signed with a secret the worker created
    first = voice.requests[-1][2]
    old = signing.signing_secret(app.id, "test")
    Webhook(old).verify(first.content.decode(), dict(first.headers))

    new = api.post(ROTATE).json()["signing_secret"]
    assert new != old
    voice.run(_place(api))
    request = voice.requests[-1][2]
    Webhook(new).verify(request.content.decode(), dict(request.headers))
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(request.content.decode(), dict(request.headers))


def test_a_test_key_never_sees_or_rotates_the_live_secret(api, app):
    live = client_for(api_key_create(app=app, name="live", mode="live").secret)
    live_secret = live.post(ROTATE).json()["signing_secret"]
    assert api.get(SETTINGS).json()["signing_secret_hint"] is None
    test_secret = api.post(ROTATE).json()["signing_secret"]
    assert test_secret != live_secret
    assert signing.signing_secret(app.id, "live") == live_secret
    assert signing.signing_secret(app.id, "test") == test_secret
    assert live.get(SETTINGS).json()["signing_secret_hint"] == f"whsec_…{live_secret[-4:]}"
    assert api.get(SETTINGS).json()["signing_secret_hint"] == f"whsec_…{test_secret[-4:]}"


def test_status_callbacks_are_signed_with_their_calls_mode_secret(api, app):
    live = client_for(api_key_create(app=app, name="live", mode="live").secret)
    live_secret = live.post(ROTATE).json()["signing_secret"]
    test_secret = api.post(ROTATE).json()["signing_secret"]
    assert _signers[signing.callback_channel("live")](app.id) == [live_secret]
    assert _signers[signing.callback_channel("test")](app.id) == [test_secret]


def test_the_settings_need_a_management_key(app):
    voice_only = client_for(api_key_create(app=app, name="voice", products=["voice"]).secret)
    assert voice_only.post(ROTATE).status_code == 403
    assert voice_only.get(SETTINGS).status_code == 403


def test_a_signer_reads_the_secret_from_its_cache_without_queries(api, app, django_assert_num_queries):
    secret = api.post(ROTATE).json()["signing_secret"]
    assert signing.signing_secret(app.id, "test") == secret
    with django_assert_num_queries(0):
        assert signing.signing_secret(app.id, "test") == secret


def test_the_console_shows_only_hints_and_a_rotation_shows_the_new_secret_once(api, app, owner, provisioned,
                                                                              other_provisioned):
    secret = api.post(ROTATE).json()["signing_secret"]
    page = owner.get("/console/voice/").content.decode()
    assert secret not in page and f"whsec_…{secret[-4:]}" in page
    assert signing.signing_secret(app.id, "test") not in page

    rotate_url = f"/console/voice/apps/{app.id}/signing-secret/live/rotate"
    assert owner.get(rotate_url).status_code == 405
    shown = owner.post(rotate_url)
    assert shown.status_code == 200
    live_secret = signing.signing_secret(app.id, "live")
    assert live_secret in shown.content.decode()
    assert live_secret not in owner.get("/console/voice/").content.decode()
    entry = AuditLogEntry.objects.get(action="voice.signing_secret_rotated", metadata__mode="live")
    assert entry.actor_user_id == provisioned.user.pk

    stranger = Client()
    stranger.force_login(other_provisioned.user)
    assert stranger.post(rotate_url).status_code == 404
    assert signing.signing_secret(app.id, "live") == live_secret


def test_existing_apps_keep_the_secret_they_had_when_it_becomes_stored(app, settings):
    migration = importlib.import_module("cpaas.voice.migrations.0003_voice_signing_secrets")
    migration.store_derived(django_apps, None)
    digest = hmac.new(settings.SECRET_KEY.encode(), f"cpaas-voice:{app.id}".encode(), hashlib.sha256).digest()
    derived = "whsec_" + base64.b64encode(digest).decode()
    assert signing.signing_secret(app.id, "live") == derived
    assert signing.signing_secret(app.id, "test") == derived
    assert derived not in json.dumps(VoiceSettings.objects.filter(app=app).values().get(), default=str)


def test_voice_secrets_survive_a_keyring_rotation(api, app, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SECRET_ENCRYPTION_KEYS = [old]
    secret = api.post(ROTATE).json()["signing_secret"]
    settings.SECRET_ENCRYPTION_KEYS = [new, old]
    out = StringIO()
    call_command("secrets_reencrypt", stdout=out)
    assert "voice signing secrets: 1 re-encrypted" in out.getvalue()
    settings.SECRET_ENCRYPTION_KEYS = [new]
    crypto.forget_plain()
    signing._cache.clear()
    assert signing.signing_secret(app.id, "test") == secret
