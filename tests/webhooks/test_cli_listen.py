import io
import threading
import time

import pytest
from standardwebhooks import Webhook

from cpaas.cli.__main__ import build_parser
from cpaas.cli.listen import Listener
from tests.webhooks.conftest import run
from webhooks import publish
from webhooks.models import Endpoint


def test_the_cli_has_a_listen_command():
    args = build_parser().parse_args(["listen", "--forward-to", "http://localhost:8000/hook", "--api-key", "sk_test_x"])
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

    event = publish(provisioned.app, "message.sent", {"id": "msg_1"}, idempotency_key="k1")
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
