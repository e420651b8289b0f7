"""Tenant URLs of calls pass the egress's guard: at creation, and at every connect (pinned)."""

from __future__ import annotations

import socket

import pytest

from cpaas.voice.engine import APOLOGY
from cpaas.voice.models import Call
from tests.support.receiver import start_receiver
from tests.support.ssrf import REFUSED_URLS, answer_names, loopback_urls
from webhooks.models import Event

from .test_engine_calls import FROM, TO, place


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


# --- the SSRF corpus (tests/support/ssrf.py), on loopback only ----------------------------------

def _refused(response, param: str) -> bool:
    error = response.json()["error"]
    return response.status_code == 400 and (error["code"], error["param"]) == ("url_not_allowed", param)


@pytest.mark.parametrize("bad", REFUSED_URLS)
def test_every_call_field_holding_a_tenant_url_refuses_the_corpus(api, no_allow_list, resolver, bad):
    answer_names(resolver)
    good = "https://93.184.216.34/voice"
    assert _refused(api.post("/v1/calls", {"to": TO, "from": FROM, "url": bad}, format="json"), "url")
    assert _refused(api.post("/v1/calls", {"to": TO, "from": FROM, "url": good, "status_callback": bad},
                             format="json"), "status_callback")
    assert _refused(api.post("/v1/calls/callback", {"party_a": TO, "party_b": "+12025550199", "caller_id_a": FROM,
                                                    "caller_id_b": TO, "status_callback": bad}, format="json"),
                    "status_callback")
    assert not Call.objects.exists()


def test_a_redirect_of_a_live_call_refuses_the_corpus(api, no_allow_list, resolver):
    answer_names(resolver)
    call_id = place(api, "<Response><Pause length=\"60\"/></Response>")
    for bad in REFUSED_URLS:
        assert _refused(api.post(f"/v1/calls/{call_id}", {"url": bad}, format="json"), "url"), bad


def test_every_loopback_spelling_is_refused_when_the_engine_connects(api, voice, resolver, monkeypatch):
    # Accepted while the operator allowed loopback, refused once the allow-list is empty: the
    # connect-time check is the one that matters, and the receiver listening there hears nothing.
    from cpaas.core.egress import conf

    answer_names(resolver)
    receiver, server = start_receiver()
    try:
        port = int(receiver.base.rsplit(":", 1)[1])
        monkeypatch.setattr(conf, "ALLOWED_CIDRS", ["127.0.0.0/8", "::1/128", "0.0.0.0/32"])
        call_ids = [place(api, url=url) for url in loopback_urls(port, "/voice")]
        monkeypatch.setattr(conf, "ALLOWED_CIDRS", [])
        voice.real_http = True
        voice.run(*call_ids)
    finally:
        server.shutdown()
        server.server_close()
    assert receiver.received == []
    assert {call.error_code for call in Call.objects.filter(pk__in=call_ids)} == {"url_not_allowed"}
