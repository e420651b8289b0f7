"""Console fixtures: logged-in clients for each role of our tenant, and another tenant."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from cpaas.tenants.models import Role
from cpaas.tenants.services import member_add

PASSWORD = "s3cret-pass!"


def member(tenant, email: str, role: str):
    user = get_user_model().objects.create_user(username=email, email=email, password=PASSWORD)
    member_add(tenant=tenant, user=user, role=role)
    return user


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner(provisioned):
    return provisioned.user


@pytest.fixture
def owner_client(owner) -> Client:
    return logged_in(owner)


@pytest.fixture
def developer(tenant):
    return member(tenant, "dev@acme.test", Role.DEVELOPER)


@pytest.fixture
def developer_client(developer) -> Client:
    return logged_in(developer)


@pytest.fixture
def finance(tenant):
    return member(tenant, "finance@acme.test", Role.FINANCE)


@pytest.fixture
def finance_client(finance) -> Client:
    return logged_in(finance)


@pytest.fixture
def other_app(other_provisioned):
    return other_provisioned.app


@pytest.fixture
def other_key(other_provisioned):
    return other_provisioned.test_key.key


@pytest.fixture
def admin(tenant):
    return member(tenant, "admin@acme.test", Role.ADMIN)


@pytest.fixture
def admin_client(admin) -> Client:
    return logged_in(admin)


@pytest.fixture
def viewer(tenant):
    return member(tenant, "viewer@acme.test", Role.VIEWER)


@pytest.fixture
def viewer_client(viewer) -> Client:
    return logged_in(viewer)
