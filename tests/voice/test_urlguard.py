"""Tenant URLs pass the webhooks room's SSRF guard: at creation, and at every connect (pinned)."""

from __future__ import annotations

import socket

import pytest

from cpaas.voice.engine import APOLOGY
from cpaas.voice.models import Call
from webhooks import conf
from webhooks.models import Event

from ..webhooks.receiver import start_receiver
from .test_engine_calls import FROM, TO, place


@pytest.fixture
def resolver(monkeypatch):
    """Answers for host names, as a DNS server would (other names resolve as usual)."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host in answers:
            address = answers[host].pop(0) if len(answers[host]) > 1 else answers[host][0]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return answers


@pytest.fixture
def no_allow_list(monkeypatch):
    monkeypatch.setattr(conf, "ALLOWED_CIDRS", [])


@pytest.mark.parametrize(("field", "url"), [
    ("url", "http://10.0.0.5/voice"),
    ("url", "http://127.0.0.1:8000/admin"),
    ("status_callback", "http://169.254.169.254/latest/meta-data/"),
    ("status_callback", "http://[::1]/status"),
])
def test_a_private_address_is_refused_when_the_call_is_created(api, no_allow_list, field, url):
    body = {"to": TO, "from": FROM, "url": "https://tenant.example/voice", field: url}
    response = api.post("/v1/calls", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("url_not_allowed", field)


def test_a_host_name_resolving_to_a_private_address_is_refused(api, no_allow_list, resolver):
    resolver["inside.tenant.test"] = ["10.1.2.3"]
    response = api.post("/v1/calls", {"to": TO, "from": FROM, "url": "http://inside.tenant.test/voice"},
                        format="json")
    assert response.json()["error"]["code"] == "url_not_allowed"


def test_a_name_that_rebinds_to_a_private_address_after_the_check_is_never_connected(
        api, voice, no_allow_list, resolver, monkeypatch):
    # Public when the call is created, private when the engine connects: the guard resolves once
    # at connect time and connects to that checked address, so the private one is refused.
    resolver["rebind.tenant.test"] = ["93.184.216.34", "10.1.2.3"]
    connects = []
    real_connect = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: (connects.append(address),
                                                                          real_connect(self, address))[1])
    call_id = place(api, url="http://rebind.tenant.test/voice")
    voice.real_http = True
    voice.run(call_id)
    error = Event.objects.get(type="call.error").data
    assert error["code"] == "url_not_allowed" and "10.1.2.3" in error["message"]
    assert not [address for address in connects if address[0] == "10.1.2.3"]
    assert voice.network.spoken[0][1] == APOLOGY


def test_a_redirect_to_the_metadata_service_is_not_followed(api, voice):
    receiver, server = start_receiver()
    try:
        receiver.answer("/voice", 302, location="http://169.254.169.254/latest/meta-data/")
        call_id = place(api, url=f"{receiver.base}/voice")
        voice.real_http = True
        voice.run(call_id)
    finally:
        server.shutdown()
    assert len(receiver.received) == 1
    call = Call.objects.get(pk=call_id)
    assert call.error_code == "document_fetch_failed"
    assert "HTTP 302; redirects are not followed" in call.error_message


def test_documents_are_fetched_through_the_guard_from_an_allowed_network(api, voice):
    receiver, server = start_receiver()
    try:
        call_id = place(api, url=f"{receiver.base}/voice")
        voice.real_http = True
        voice.run(call_id)
    finally:
        server.shutdown()
    # The loopback receiver answers 200 with no body: an empty document is an application error,
    # but the fetch itself went through (the operator's allow-list covers loopback in these tests).
    assert len(receiver.received) == 1
    assert Call.objects.get(pk=call_id).error_code == "invalid_document"


def test_fetches_of_a_call_reuse_one_kept_alive_connection(api, voice):
    receiver, server = start_receiver()
    try:
        receiver.bodies["/voice"] = b"<Response><Say>One</Say><Redirect>/next</Redirect></Response>"
        receiver.bodies["/next"] = b"<Response><Say>Two</Say><Hangup/></Response>"
        call_id = place(api, url=f"{receiver.base}/voice")
        voice.real_http = True
        voice.run(call_id)
    finally:
        server.shutdown()
    assert [path for path, _, _ in receiver.received] == ["/voice", "/next"]
    assert len(set(receiver.ports)) == 1
    assert [text for _, text in voice.network.spoken] == ["One", "Two"]
    assert Call.objects.get(pk=call_id).hangup_cause == "hangup_verb"


def test_a_document_past_the_size_limit_is_refused_without_reading_it_all(api, voice, monkeypatch):
    from cpaas.voice import conf as voice_conf

    monkeypatch.setattr(voice_conf, "VOICE_MAX_DOCUMENT_BYTES", 200)
    receiver, server = start_receiver()
    try:
        receiver.bodies["/voice"] = b"<Response>" + b"<Say>Hello</Say>" * 10_000 + b"</Response>"
        call_id = place(api, url=f"{receiver.base}/voice")
        voice.real_http = True
        voice.run(call_id)
    finally:
        server.shutdown()
    call = Call.objects.get(pk=call_id)
    assert call.error_code == "invalid_document" and "200" in call.error_message
