import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from cpaas_sdk.cli.listen import Listener
from cpaas_sdk.cli.main import parse_args
from tests.webhooks.conftest import run
from webhooks import publish
from webhooks.models import Endpoint


def test_the_cli_has_a_listen_command():
    args = parse_args(["listen", "--forward-to", "http://localhost:8000/hook", "--api-key", "sk_test_x"])
    assert args.forward_to == "http://localhost:8000/hook"
    assert callable(args.handler)


@pytest.mark.django_db(transaction=True)
def test_listen_registers_a_temporary_endpoint_prints_and_forwards_events(live_server, provisioned, receiver,
                                                                         dispatcher, monkeypatch):
    from webhooks import services

    monkeypatch.setattr(services, "dispatch_kick", lambda: None)  # the test runs the dispatcher itself
    out = io.StringIO()
    listener = Listener(api_key=provisioned.test_key.secret, api_base=live_server.url,
                        forward_to=receiver.url("/ok"), out=out)
    thread = threading.Thread(target=listener.run, daemon=True)
    thread.start()
    for _ in range(100):
        if "signing secret" in out.getvalue():
            break
        time.sleep(0.05)
    secret = next(line.split()[5] for line in out.getvalue().splitlines() if "signing secret" in line)

    event = publish(provisioned.app, "message.sent", {"id": "msg_1"}, idempotency_key="k1", livemode=False)
    run(dispatcher)
    listener.stop()
    thread.join(10)

    (forwarded,) = receiver.requests
    assert forwarded["headers"]["webhook-id"] == event.id
    assert Webhook(secret).verify(forwarded["body"], forwarded["headers"])["type"] == "message.sent"
    printed = out.getvalue()
    assert f"--> message.sent [{event.id}]" in printed
    assert "<-- 200" in printed
    assert not Endpoint.objects.exists()


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
@pytest.mark.django_db(transaction=True)
def test_listen_deletes_its_endpoint_when_the_process_is_stopped_by_a_signal(live_server, provisioned,
                                                                              allow_loopback, signum):
    """`kill`, a closed terminal or a process manager must not leave the endpoint behind."""
    env = {k: v for k, v in os.environ.items() if k != "CPAAS_API_KEY"}
    env["PYTHONPATH"] = str(ROOT / "sdk" / "python" / "src")
    process = subprocess.Popen(
        [sys.executable, "-m", "cpaas_sdk.cli", "listen", "--api-key", provisioned.test_key.secret,
         "--api-base", live_server.url, "--forward-to", "http://127.0.0.1:9/hook"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        ready = process.stdout.readline()
        assert ready.startswith("Ready!"), ready + process.stdout.read()
        assert Endpoint.objects.count() == 1
        process.send_signal(signum)
        assert process.wait(15) == 0
        assert "the temporary endpoint was deleted" in process.stdout.read()
        assert not Endpoint.objects.exists()
    finally:
        if process.poll() is None:
            process.kill()


def test_listen_takes_the_demo_key_make_run_wrote_when_no_key_is_given(tmp_path, monkeypatch):
    """The README's `cpaas listen --forward-to …` runs as written next to `make run`."""
    (tmp_path / "demo_key").write_text("sk_test_demo\n")
    monkeypatch.delenv("CPAAS_API_KEY", raising=False)
    monkeypatch.setenv("CPAAS_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("CPAAS_CONFIG", str(tmp_path / "no-profiles.json"))
    assert parse_args(["listen", "--forward-to", "http://localhost:9000/hook"]).api_key == "sk_test_demo"
