"""The ``cpaas`` command line run as a subprocess (as a developer runs it) against the live server."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.sdk.test_billing import finalized  # noqa: F401 (fixture)
from webhooks import publish, services

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CPAAS_")}
    env.update(PYTHONPATH=str(ROOT / "sdk" / "python" / "src"), CPAAS_CONFIG=str(tmp_path / "cpaas" / "config.json"),
               CPAAS_VAR_DIR=str(tmp_path / "var"), COLUMNS="200")
    return env


@pytest.fixture
def cpaas(cli_env, live, tmp_path):
    def run(*args: str, key: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        auth = ["--api-key", key] if key else []
        done = subprocess.run([sys.executable, "-m", "cpaas_sdk.cli", *args, *auth, "--api-base", live.url],
                              env=cli_env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        if check:
            assert done.returncode == 0, done.stdout + done.stderr
        return done
    return run


@pytest.fixture
def sender(client) -> str:
    return client.numbers.create().number


def spawn(cli_env, live, tmp_path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cpaas_sdk.cli", *args, "--api-base", live.url], env=cli_env,
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_login_stores_the_key_per_profile_in_a_file_only_its_owner_reads(cpaas, cli_env, secret, app):
    done = cpaas("login", "--profile", "ci", "--json", key=secret)
    assert json.loads(done.stdout)["app"] == app.pk
    path = Path(cli_env["CPAAS_CONFIG"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["profiles"]["ci"]["api_key"] == secret
    me = cpaas("--profile", "ci", "usage", "--json")  # no key given: the profile's
    assert json.loads(me.stdout)["object"] == "usage"
    assert cpaas("usage", check=False).returncode == 2  # the default profile has no key


def test_a_bad_key_is_refused_at_login_and_nothing_is_stored(cpaas, cli_env):
    done = cpaas("login", key="sk_test_nope", check=False)
    assert done.returncode == 1
    assert "authentication_failed" in done.stderr and "req_" in done.stderr
    assert not Path(cli_env["CPAAS_CONFIG"]).exists()


def test_sms_send_to_several_numbers_prints_json_or_a_table(cpaas, secret, sender):
    sent = json.loads(cpaas("sms", "send", "--from", sender, "--to", "+15005550000", "--to", "+15005550001",
                            "--body", "hi", "--json", key=secret).stdout)
    assert [m["to"] for m in sent] == ["+15005550000", "+15005550001"]
    table = cpaas("sms", "send", "--from", sender, "--to", "+15005550000", "--body", "hi", key=secret).stdout
    assert "Messages sent" in table and "queued" in table


def test_an_api_error_exits_1_with_its_code_param_and_request_id(cpaas, secret, sender):
    done = cpaas("sms", "send", "--from", sender, "--to", "nope", "--body", "x", key=secret, check=False)
    assert done.returncode == 1
    assert "invalid_phone_number" in done.stderr and "param: to" in done.stderr and "req_" in done.stderr


def test_calls_create_with_a_spoken_text(cpaas, secret):
    call = json.loads(cpaas("calls", "create", "--from", "+15005559000", "--to", "+12025550123", "--say", "Hello",
                            "--json", key=secret).stdout)
    assert call["id"].startswith("call_") and call["status"] == "queued"


def test_messages_tail_prints_new_messages_as_json_lines(cpaas, cli_env, live, tmp_path, secret, sender):
    cpaas("sms", "send", "--from", sender, "--to", "+15005550000", "--body", "old", key=secret)
    tail = spawn(cli_env, live, tmp_path, "messages", "tail", "--count", "2", "--interval", "0.1", "--json",
                 "--api-key", secret)
    try:
        assert "Waiting for new items" in tail.stderr.readline()
        for body in ("new 1", "new 2"):
            cpaas("sms", "send", "--from", sender, "--to", "+15005550000", "--body", body, key=secret)
        out, _ = tail.communicate(timeout=30)
    finally:
        tail.kill()
    assert [json.loads(row)["body"] for row in out.splitlines()] == ["new 1", "new 2"]


def test_events_tail_follows_new_events(cli_env, live, tmp_path, secret, app, monkeypatch):
    monkeypatch.setattr(services, "dispatch_kick", lambda: None)
    tail = spawn(cli_env, live, tmp_path, "events", "tail", "--count", "1", "--interval", "0.1",
                 "--api-key", secret)
    try:
        assert "Waiting for new items" in tail.stderr.readline()
        time.sleep(0.2)
        event = publish(app, "message.sent", {"id": "msg_1"}, idempotency_key="tail-1", livemode=False)
        out, _ = tail.communicate(timeout=30)
    finally:
        tail.kill()
    assert event.id in out and "message.sent" in out


def test_usage_as_a_table(cpaas, secret):
    assert "sms_segments" in cpaas("usage", "--meter", "sms_segments", key=secret).stdout


def test_invoices_list_and_download(cpaas, live_secret, finalized, tmp_path):  # noqa: F811
    assert finalized.pk in cpaas("invoices", "list", key=live_secret).stdout
    saved = json.loads(cpaas("invoices", "download", finalized.pk, "--json", key=live_secret).stdout)
    assert Path(tmp_path / saved["path"]).read_bytes().startswith(b"%PDF")
    cpaas("invoices", "download", finalized.pk, "--format", "csv", "-o", "inv.csv", key=live_secret)
    assert b"INV-2026-000001" in (tmp_path / "inv.csv").read_bytes()
