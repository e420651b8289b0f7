import pytest

from cpaas.messaging.dispatch import dispatch_batch
from tests.messaging.conftest import send

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(client, provisioned):
    client.force_login(provisioned.user)
    return client


def test_the_message_log_lists_and_filters_messages(member, api):
    delivered = send(api, to="+15005550000", body="first").json()["id"]
    failed = send(api, to="+15005550002", body="second").json()["id"]
    dispatch_batch()
    page = member.get("/console/sms/messages").content.decode()
    assert delivered in page and failed in page
    only_failed = member.get("/console/sms/messages", {"status": "failed"}).content.decode()
    assert failed in only_failed and delivered not in only_failed


def test_the_detail_page_shows_the_timeline_and_callbacks(member, api):
    message_id = send(api, status_callback="https://hooks.test/x").json()["id"]
    dispatch_batch()
    page = member.get(f"/console/sms/messages/{message_id}").content.decode()
    for text in ("queued", "sent", "delivered", "message.delivered", "https://hooks.test/x"):
        assert text in page


def test_another_tenants_message_is_not_in_the_console(member, other_api):
    theirs = send(other_api).json()["id"]
    assert member.get(f"/console/sms/messages/{theirs}").status_code == 404
    assert theirs not in member.get("/console/sms/messages").content.decode()


def test_blocked_sends_are_visible(member, api, live_api):
    live_api.post("/v1/sms/settings", {"velocity_limit": 1}, format="json")
    send(api, to="+12025550120")
    assert send(api, to="+12025550121").status_code == 403
    page = member.get("/console/sms/protection").content.decode()
    assert "+12025550121" in page


def test_anonymous_visitors_are_sent_to_login(client):
    assert client.get("/console/sms/messages").status_code == 302
