"""Carrier credentials are stored encrypted, apart from the configuration, and opened only by the
connector when it binds."""

import json
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from cpaas.carriers.credentials import unseal
from cpaas.core.ratelimit import gate
from cpaas.messaging.connectors import connector_save
from cpaas.messaging.models import Connector
from cpaas.messaging.route import connector_for

pytestmark = pytest.mark.django_db


def stored(connector_id: str) -> str:
    return json.dumps(Connector.objects.filter(pk=connector_id).values().get(), default=str)


def test_the_command_stores_the_smpp_password_only_encrypted(capsys):
    out = StringIO()
    call_command("sms_connector", "acme", "smpp", "--config",
                 '{"host": "smsc.example", "port": 2775, "system_id": "acme", "password": "hunter2-smpp"}',
                 stdout=out)
    assert "credentials stored encrypted: password" in out.getvalue()
    row = Connector.objects.get(pk="acme")
    assert row.config == {"host": "smsc.example", "port": 2775, "system_id": "acme"}
    assert "hunter2-smpp" not in stored("acme")
    assert unseal(row.credentials) == {"password": "hunter2-smpp"}


def test_http_headers_and_callback_token_are_credentials():
    connector_save(id="up", kind="http", config={"url": "https://up.test/sms", "callback_token": "tok-123",
                                                 "headers": {"Authorization": "Bearer upstream-key"}})
    text = stored("up")
    assert "tok-123" not in text and "upstream-key" not in text
    connector = connector_for("up")
    assert connector.verify_callback("tok-123") and not connector.verify_callback("nope")


def test_a_plain_credential_cannot_be_written_into_the_configuration_even_by_a_raw_update():
    connector_save(id="acme", kind="smpp", config={"host": "h", "port": 1})
    with pytest.raises(IntegrityError), transaction.atomic():
        Connector.objects.filter(pk="acme").update(config={"host": "h", "password": "plain"})
    with pytest.raises(IntegrityError), transaction.atomic():
        Connector.objects.create(id="raw", kind="smpp", config={"password": "plain"})


def test_only_the_connector_opens_its_credentials():
    connector_save(id="smsc1", kind="smpp", config={"host": "127.0.0.1", "port": 2775, "password": "pw"})
    connector = connector_for("smsc1")
    assert connector.config.password == "" and "pw" not in repr(connector)
    assert connector.secret("password") == "pw"  # what its bind sends (end to end: test_worker_e2e)


def test_existing_plain_credentials_are_sealed_by_the_data_migration():
    from importlib import import_module

    from django.apps import apps

    migration = import_module("cpaas.messaging.migrations.0004_connector_credentials_encrypted")
    connector_save(id="old", kind="smpp", config={"host": "h", "port": 2775})
    with connection_without_constraint():
        Connector.objects.filter(pk="old").update(config={"host": "h", "port": 2775, "password": "legacy-pw"})
        migration.seal_existing(apps, None)
        row = Connector.objects.get(pk="old")
        assert row.config == {"host": "h", "port": 2775} and unseal(row.credentials) == {"password": "legacy-pw"}
        assert "legacy-pw" not in stored("old")


def connection_without_constraint():
    """Rows written before the constraint existed: drop it for the block (rolled back after it),
    as the migration runs before adding it."""
    from contextlib import contextmanager

    from django.db import connection

    @contextmanager
    def block():
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("ALTER TABLE messaging_connector DROP CONSTRAINT connector_config_without_credentials")
            try:
                yield
            finally:
                transaction.set_rollback(True)

    return block()


def test_wrong_callback_tokens_are_throttled_per_address(client, settings):
    settings.AUTH_FAILURES_PER_WINDOW = 2
    connector_save(id="up", kind="http", config={"url": "https://up.test/sms", "callback_token": "tok"})

    n = uuid.uuid4().int
    mine, other = f"192.0.{n % 250}.{(n >> 8) % 250 + 1}", f"198.18.{n % 250}.{(n >> 8) % 250 + 1}"

    def post(token, address=mine):
        return client.post("/v1/carriers/up/receipts", [], content_type="application/json",
                           HTTP_X_CALLBACK_TOKEN=token, REMOTE_ADDR=address)

    assert [post("guess1").status_code, post("guess2").status_code] == [401, 401]
    refused = post("tok")
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert post("tok", address=other).status_code == 200
    gate().auth_reset(mine)
