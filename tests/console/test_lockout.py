"""Console login lockout (django-axes): 5 failures per username and address lock that pair for 15 minutes."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from asgiref.sync import async_to_sync
from axes.models import AccessAttempt
from django.test import AsyncClient, Client
from django.urls import reverse
from django.utils import timezone

from cpaas.tenants.models import AuditLogEntry
from tests.console.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = reverse("console:login")
OWNER = "owner@acme.test"


def attempt(client: Client, username: str = OWNER, password: str = "wrong-password", ip: str = "203.0.113.7"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def fail(client: Client, times: int, **kwargs) -> None:
    for _ in range(times):
        response = attempt(client, **kwargs)
        assert response.status_code == 200  # the form again, with its error


def test_four_failures_do_not_lock_and_the_right_password_still_works(provisioned, client, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    fail(client, 4)
    response = attempt(client, password=PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("console:home")


def test_the_fifth_failure_locks_the_pair_and_answers_429_with_the_wait(provisioned, client):
    fail(client, 4)
    response = attempt(client)
    assert response.status_code == 429
    assert response["Retry-After"] == str(15 * 60)
    page = response.content.decode()
    assert "Too many attempts" in page
    assert "try again in 15 minutes" in page.lower().replace("\n", " ")


def test_a_locked_pair_is_refused_even_with_the_right_password(provisioned, client):
    fail(client, 4)
    attempt(client)
    response = attempt(client, password=PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_attempts_during_the_lockout_do_not_extend_it(provisioned, client):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        fail(client, 4)
        attempt(client)
        traveller.shift(timedelta(minutes=10))
        response = attempt(client)
        assert response.status_code == 429
        assert "try again in 5 minutes" in response.content.decode().lower()
        traveller.shift(timedelta(minutes=5, seconds=1))
        response = attempt(client, password=PASSWORD)
    assert response.status_code == 302


def test_the_lockout_ends_after_15_minutes(provisioned, client):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        fail(client, 4)
        assert attempt(client).status_code == 429
        traveller.shift(timedelta(minutes=14, seconds=59))
        assert attempt(client, password=PASSWORD).status_code == 429
        traveller.shift(timedelta(seconds=2))
        response = attempt(client, password=PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("console:home")


def test_the_lock_is_per_username_and_address(provisioned, client):
    fail(client, 4)
    attempt(client)
    # Same username from another address, and another username from the same address, still work.
    assert attempt(Client(), password=PASSWORD, ip="198.51.100.9").status_code == 302
    other = attempt(Client(), username="someone@else.test")
    assert other.status_code == 200


def test_a_successful_login_resets_the_count(provisioned, client):
    fail(client, 4)
    assert attempt(client, password=PASSWORD).status_code == 302
    client.post(reverse("console:logout"))
    assert not AccessAttempt.objects.filter(username=OWNER).exists()
    fail(client, 4)
    assert attempt(client, password=PASSWORD).status_code == 302


def test_an_unknown_username_is_locked_the_same_way(db, client):
    """The lockout must not tell which usernames exist."""
    fail(client, 4, username="nobody@acme.test")
    response = attempt(client, username="nobody@acme.test")
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()


def test_the_lockout_is_audited_once_in_the_users_tenants(provisioned, client):
    fail(client, 4)
    attempt(client)
    attempt(client)  # refused during the lockout: no second entry
    entries = AuditLogEntry.objects.filter(tenant=provisioned.tenant, action="console.login_locked")
    assert entries.count() == 1
    entry = entries.get()
    assert entry.ip == "203.0.113.7"
    assert entry.target_id == str(provisioned.user.pk)
    assert entry.metadata == {"username": OWNER, "failures": 5, "minutes": 15}


def test_attempts_keep_no_password(provisioned, client):
    fail(client, 2, password="hunter2-secret")
    stored = AccessAttempt.objects.get(username=OWNER)
    assert "hunter2-secret" not in stored.post_data


def test_the_lockout_page_is_the_same_under_asgi(provisioned):
    """Production serves Django over ASGI, where axes' middleware takes its async path."""
    client = AsyncClient()

    def post(password: str = "wrong-password"):
        return async_to_sync(client.post)(LOGIN, {"username": OWNER, "password": password}, REMOTE_ADDR="203.0.113.8")

    for _ in range(4):
        assert post().status_code == 200
    response = post()
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    assert post(PASSWORD).status_code == 429
