"""Console pages: call log, call detail with legs, timeline and recordings, the debugger; isolation."""

from __future__ import annotations

import httpx
import pytest
from django.test import Client

from cpaas.voice.models import Recording


@pytest.fixture
def owner(provisioned) -> Client:
    client = Client()
    client.force_login(provisioned.user)
    return client


@pytest.fixture
def other_owner(other_provisioned) -> Client:
    client = Client()
    client.force_login(other_provisioned.user)
    return client


@pytest.fixture
def call_id(api, voice) -> str:
    voice.route("https://tenant.example/voice", httpx.Response(500))
    response = api.post("/v1/calls", {"to": "+12025550123", "from": "+15005559000", "record": True,
                                      "url": "https://tenant.example/voice"}, format="json")
    voice.run(response.json()["id"])
    return response.json()["id"]


def test_the_call_log_lists_the_tenants_calls(owner, call_id, app):
    page = owner.get("/console/voice/")
    assert page.status_code == 200
    assert call_id.encode() in page.content and b"whsec_" in page.content


def test_the_call_page_shows_legs_timeline_recording_and_errors(owner, call_id):
    page = owner.get(f"/console/voice/calls/{call_id}").content.decode()
    assert "leg a +12025550123: answered" in page
    assert "document_fetch_failed" in page and "the URL answered HTTP 500" in page
    recording = Recording.objects.get(call_id=call_id)
    assert f"/console/voice/recordings/{recording.id}/audio" in page
    audio = owner.get(f"/console/voice/recordings/{recording.id}/audio")
    assert audio.status_code == 200 and audio["Content-Type"] == "audio/wav"


def test_the_debugger_lists_call_control_errors(owner, call_id):
    page = owner.get("/console/voice/debugger").content.decode()
    assert call_id in page and "document_fetch_failed" in page


def test_another_tenant_sees_none_of_it(other_owner, call_id):
    assert other_owner.get(f"/console/voice/calls/{call_id}").status_code == 404
    assert call_id.encode() not in other_owner.get("/console/voice/").content
    assert call_id.encode() not in other_owner.get("/console/voice/debugger").content
    recording = Recording.objects.get(call_id=call_id)
    assert other_owner.get(f"/console/voice/recordings/{recording.id}/audio").status_code == 404


def test_anonymous_visitors_are_sent_to_login(db):
    response = Client().get("/console/voice/")
    assert response.status_code == 302 and "/console/login" in response["Location"]


def test_the_call_page_shows_how_its_status_callbacks_fared(owner, other_owner, api, voice):
    from webhooks.callback_models import Callback

    from .test_engine_calls import place

    call_id = place(api, "<Response><Say>Hi</Say></Response>", status_callback="https://tenant.example/status",
                    status_events=["answered", "completed"])
    voice.run(call_id)
    answered, completed = Callback.objects.filter(idempotency_key__startswith=call_id).order_by("created_at", "id")
    Callback.objects.filter(pk=answered.pk).update(status="failed", attempts=8, last_status_code=503)
    page = owner.get(f"/console/voice/calls/{call_id}").content.decode()
    assert "Status callbacks" in page and "https://tenant.example/status" in page
    assert answered.id in page and completed.id in page
    assert "call.answered" in page and "failed" in page and "HTTP 503" in page
    assert other_owner.get(f"/console/voice/calls/{call_id}").status_code == 404


def test_a_call_without_a_status_callback_shows_no_callback_section(owner, call_id):
    assert "Status callbacks" not in owner.get(f"/console/voice/calls/{call_id}").content.decode()
