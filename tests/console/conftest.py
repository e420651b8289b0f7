"""Console fixtures: logged-in clients for each role of our tenant, and another tenant."""

from __future__ import annotations

import os
import shutil

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from cpaas.tenants.models import Role
from cpaas.tenants.services import member_add

PASSWORD = "s3cret-pass!"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


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


@pytest.fixture
def browser(tmp_path):
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        if os.environ.get("CPAAS_SKIP_BROWSER") == "1":
            pytest.skip(f"CPAAS_SKIP_BROWSER=1 and {', '.join(missing)} not installed")
        pytest.fail(
            f"{', '.join(missing)} not found: install them with `apt-get install -y chromium chromium-driver` "
            "(make test does), or set CPAAS_SKIP_BROWSER=1 to skip the browser test.",
            pytrace=False,
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1360,900", f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(arg)
    # The browser's console log, where Chromium reports every Content-Security-Policy violation.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()
