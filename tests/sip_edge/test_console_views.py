"""The console's SIP endpoints page: list with registrations, create with the password shown once,
errors on the form, nothing of another tenant."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from cpaas.sip_edge.credentials import ha1
from cpaas.sip_edge.models import SipEndpoint, SipRegistration

URL = "/console/voice/sip-endpoints"


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


def test_the_voice_page_links_to_sip_endpoints(owner):
    assert URL.encode() in owner.get("/console/voice/").content


def test_it_creates_an_endpoint_and_shows_its_password_once(owner, app):
    page = owner.post(URL, {"app": app.id, "mode": "live", "username": "frontdesk", "display_name": "Front"})
    assert page.status_code == 201
    endpoint = SipEndpoint.objects.get()
    html = page.content.decode()
    password = html.split('id="new-secret" class="secret-value" type="text" value="', 1)[1].split('"', 1)[0]
    assert len(password) == 24 and endpoint.ha1 == ha1("frontdesk", endpoint.realm, password)
    assert endpoint.mode == "live" and endpoint.display_name == "Front"
    listing = owner.get(URL).content.decode()
    assert "frontdesk" in listing and password not in listing


def test_the_list_shows_registrations(owner, api):
    endpoint = api.post("/v1/sip/endpoints", {"username": "alice"}, format="json").json()
    now = timezone.now()
    SipRegistration.objects.create(username="alice", domain=SipEndpoint.objects.get().realm, ruid="r1",
                                   contact="sip:alice@192.0.2.7:5060", received="sip:192.0.2.7:5060",
                                   expires=now + timezone.timedelta(seconds=60), last_modified=now,
                                   user_agent="Yealink T46U")
    page = owner.get(URL).content.decode()
    assert endpoint["domain"] in page and "sip:alice@192.0.2.7:5060" in page and "Yealink T46U" in page


def test_a_bad_username_is_shown_on_the_form(owner, app):
    page = owner.post(URL, {"app": app.id, "mode": "test", "username": "Not Valid"})
    assert page.status_code == 400 and b"lowercase letters" in page.content
    assert not SipEndpoint.objects.exists()


def test_another_tenant_sees_none_and_cannot_create_in_our_app(owner, other_owner, app, api):
    api.post("/v1/sip/endpoints", {"username": "alice"}, format="json")
    assert b"alice" not in other_owner.get(URL).content
    page = other_owner.post(URL, {"app": app.id, "mode": "test", "username": "mallory"})
    assert page.status_code == 400 and SipEndpoint.objects.count() == 1
