import pytest
from django.test import Client

from cpaas.im import services
from cpaas.im.models import Conversation


@pytest.fixture
def console(provisioned):
    client = Client()
    client.force_login(provisioned.user)
    return client


def test_the_im_console_shows_online_dau_users_and_a_conversation(console, app):
    alice = services.user_create(app=app, mode="test", user_id="alice")
    bob = services.user_create(app=app, mode="test", user_id="bob")
    conv = services.private_conversation(app_id=app.pk, a=alice, b=bob)
    services.message_send(app=app, sender=alice, conv=conv, msg_type="text", content={"text": "hello console"})
    page = console.get("/console/im/")
    assert page.status_code == 200 and b"active today" in page.content and b"<svg" in page.content
    page = console.get("/console/im/users?q=ali")
    assert b"alice" in page.content and b"bob" not in page.content
    page = console.get(f"/console/im/conversations/{conv.pk}")
    assert page.status_code == 200 and b"hello console" in page.content


def test_another_tenants_conversation_is_a_404_in_the_console(console, other_provisioned):
    a = services.user_create(app=other_provisioned.app, mode="test", user_id="a")
    b = services.user_create(app=other_provisioned.app, mode="test", user_id="b")
    conv = services.private_conversation(app_id=other_provisioned.app.pk, a=a, b=b)
    assert console.get(f"/console/im/conversations/{conv.pk}").status_code == 404
    assert Conversation.objects.count() == 1


def test_the_im_console_needs_a_login():
    assert Client().get("/console/im/").status_code == 302
