"""The audit log (owners only) and the nav each role sees, rooms included once they exist."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cpaas.tenants.keys import api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db


def test_owners_see_their_tenants_audit_log(owner, owner_client, app, other_app):
    key = api_key_create(app=app, name="Ops", actor_user_id=owner.pk, ip="203.0.113.5").key
    api_key_revoke(key=key, actor_user_id=owner.pk, ip="203.0.113.5")
    api_key_create(app=other_app, name="TheirSecretProject")
    response = owner_client.get(reverse("console:audit"))
    body = response.content.decode()
    assert response.status_code == 200
    for text in ["api_key.created", "api_key.revoked", "app.created", "member.added", "owner@acme.test",
                 "203.0.113.5", key.id]:
        assert text in body, text
    assert "TheirSecretProject" not in body
    assert other_app.id not in body


def test_the_audit_log_is_paginated(owner_client, app, settings):
    settings.API_KEYS_PER_APP = 100  # 60 keys in one app: above the default cap of 50
    for i in range(60):
        api_key_create(app=app, name=f"k{i}")
    first = owner_client.get(reverse("console:audit"))
    assert b"Page 1 of 2" in first.content
    second = owner_client.get(reverse("console:audit") + "?page=2")
    assert second.status_code == 200 and b"Page 2 of 2" in second.content


@pytest.mark.parametrize("who", ["developer_client", "finance_client"])
def test_only_owners_see_the_audit_log(request, who):
    client = request.getfixturevalue(who)
    assert client.get(reverse("console:audit")).status_code == 403


def nav(response) -> str:
    body = response.content.decode()
    return body.split('<nav class="nav"')[1].split("</nav>")[0]


def test_owners_see_every_foundation_page_in_the_nav(owner_client):
    links = nav(owner_client.get(reverse("console:home")))
    for url in [reverse("console:home"), reverse("console:apps"), reverse("console:audit")]:
        assert f'href="{url}"' in links


def test_developers_do_not_see_the_audit_log(developer_client):
    response = developer_client.get(reverse("console:home"))
    assert response.status_code == 200
    links = nav(response)
    assert reverse("console:apps") in links
    assert reverse("console:audit") not in links


def test_the_nav_links_exactly_the_rooms_that_have_console_pages(owner_client):
    import importlib.util

    links = nav(owner_client.get(reverse("console:home")))
    rooms = {"sms": "cpaas.messaging", "im": "cpaas.im", "voice": "cpaas.voice", "webhooks": "webhooks",
             "billing": "billing"}
    for prefix, package in rooms.items():
        has_pages = importlib.util.find_spec(f"{package}.console_urls") is not None
        assert (f'href="/console/{prefix}/"' in links) == has_pages, prefix


def test_developers_see_channel_rooms_but_not_billing(developer_client):
    links = nav(developer_client.get(reverse("console:home")))
    for prefix in ("sms", "im", "voice"):
        assert f'href="/console/{prefix}/"' in links
    assert "/console/billing/" not in links


def test_finance_sees_only_billing_pages(finance_client):
    response = finance_client.get(reverse("console:home"))
    assert response.status_code == 302
    assert response["Location"] == "/console/billing/"
    links = nav(finance_client.get("/console/billing/"))
    assert 'href="/console/billing/"' in links
    for url in [reverse("console:home"), reverse("console:apps"), reverse("console:audit"), "/console/sms/"]:
        assert f'href="{url}"' not in links


def test_the_overview_shows_counts_and_recent_activity_to_owners(owner_client, developer_client, app):
    api_key_create(app=app, name="Live one", mode="live")
    body = owner_client.get(reverse("console:home")).content.decode()
    assert "Active live keys" in body and "Recent activity" in body
    assert "Recent activity" not in developer_client.get(reverse("console:home")).content.decode()


def test_the_console_pages_load_their_own_static_files(owner_client, client):
    body = owner_client.get(reverse("console:home")).content.decode()
    assert "console/console.css" in body and "console/vendor/htmx.min.js" in body
    assert "https://" not in body  # no CDN
    for path in ["/static/console/console.css", "/static/console/vendor/htmx.min.js", "/static/console/console.js"]:
        response = client.get(path)
        assert response.status_code == 200, path
