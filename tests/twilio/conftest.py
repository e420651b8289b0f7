"""Fixtures of the Twilio-compatible API tests: the official ``twilio`` SDK pointed at a live
test server (Django's live server thread on a free port), with our app's Account SID and key."""

from __future__ import annotations

import pytest
from django.utils import timezone
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from cpaas.carriers.clock import VirtualClock
from cpaas.carriers.sandbox import SandboxVoiceConnector
from cpaas.twilio.sids import account_sid
from tests.messaging.conftest import _fresh_sms_state  # noqa: F401  (fresh SMS caches per test)
from tests.voice.conftest import Voice, _recordings_in_tmp  # noqa: F401  (recordings in tmp_path)
from tests.voice.test_e2e_worker import worker, worker_env  # noqa: F401  (a real Celery worker)
from tests.voice.test_engine_sip import far, live_number  # noqa: F401  (a phone behind a real trunk; a live number)


def sdk_client(base_url: str, username: str, password: str) -> Client:
    """The SDK as a migrating tenant has it, with only its API host changed (``client.api`` is
    the domain of /2010-04-01; paging follows ``next_page_uri`` relative to it)."""
    client = Client(username, password, http_client=TwilioHttpClient(timeout=30))
    client.api.base_url = base_url
    return client


@pytest.fixture
def sid(app) -> str:
    return account_sid(app.id)


@pytest.fixture
def twilio(live_server, sid, secret) -> Client:
    return sdk_client(live_server.url, sid, secret)


@pytest.fixture
def signing_secret(api) -> str:
    """The app's test-mode voice signing secret, the key of X-Twilio-Signature (decision 1223)."""
    response = api.post("/v1/voice/settings/rotate-signing-secret", format="json")
    assert response.status_code == 200, response.json()
    return response.json()["signing_secret"]


@pytest.fixture
def voice(db):
    """The call engine on a virtual clock over the sandbox network (tests/voice/conftest.py),
    fetching documents through the real egress client from loopback receivers."""
    clock = VirtualClock(start=timezone.now().replace(microsecond=0))
    return Voice(clock=clock, network=SandboxVoiceConnector(clock=clock), real_http=True)
