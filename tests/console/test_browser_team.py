"""Real browser runs of the team: an owner invites a colleague in the console, the colleague opens
the link from the email (Django's outbox), sets a password and lands in the console with the invited
role; a finance member sees billing only; an operator suspends a tenant, whose key is then refused
over real HTTP, and resumes it; no CSP violation on the way.

Needs Debian's chromium and chromium-driver, like test_browser.py (whose fixtures these reuse).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from cpaas.tenants.models import Membership, Role, Tenant
from cpaas.tenants.services import tenant_provision
from cpaas.tenants.team import Actor, invitation_create, member_add
from tests.console.conftest import PASSWORD
from tests.console.test_browser import browser, csp_violations, shot, totp_code  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LINK = re.compile(r"(https?://\S+/console/invitations/\S+)")


@pytest.fixture(autouse=True)
def _locmem_email(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def log_in(driver, url: str, username: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{url}/console/login")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def nav_labels(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [a.text for a in driver.find_elements(By.CSS_SELECTOR, "nav.nav a")]


def test_an_owner_invites_a_developer_who_accepts_from_the_email_and_signs_in_with_that_role(
        browser, live_server):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    tenant_provision(name="Acme", owner_email="owner@acme.test", owner_password=PASSWORD)
    wait = WebDriverWait(browser, 10)
    log_in(browser, live_server.url, "owner@acme.test", PASSWORD)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "nav.nav")))
    browser.find_element(By.LINK_TEXT, "Team").click()
    form = wait.until(ec.presence_of_element_located((By.ID, "invite-form")))
    form.find_element(By.NAME, "email").send_keys("dev@acme.test")
    Select(form.find_element(By.NAME, "role")).select_by_value("developer")
    shot(browser, "team-01-invite")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.XPATH, "//*[contains(text(), 'Invitation sent to dev@acme.test')]")))
    assert "dev@acme.test" in browser.find_element(By.ID, "invitations").text
    shot(browser, "team-02-pending")
    browser.find_element(By.CSS_SELECTOR, ".account button[type=submit]").click()  # log out
    wait.until(ec.presence_of_element_located((By.NAME, "username")))

    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["dev@acme.test"]
    link = LINK.search(mail.outbox[0].body).group(1)
    browser.get(link)
    assert wait.until(ec.presence_of_element_located((By.ID, "invited-role"))).text == "Developer"
    browser.find_element(By.NAME, "password1").send_keys("a-long-passphrase")
    browser.find_element(By.NAME, "password2").send_keys("a-long-passphrase")
    shot(browser, "team-03-accept")
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "nav.nav")))
    assert "Developer" in browser.find_element(By.CSS_SELECTOR, ".account").text
    labels = nav_labels(browser)
    assert "Apps & API keys" in labels and "Team" not in labels and "Billing" not in labels
    shot(browser, "team-04-joined")

    # The link worked once: opened again, it says so.
    browser.get(link)
    assert "already used" in wait.until(ec.presence_of_element_located((By.TAG_NAME, "h1"))).text

    # Log out, and sign in again with the new password: still a developer.
    browser.get(f"{live_server.url}/console/")
    browser.find_element(By.CSS_SELECTOR, ".account button[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.NAME, "username")))
    log_in(browser, live_server.url, "dev@acme.test", "a-long-passphrase")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "nav.nav")))
    assert "Developer" in browser.find_element(By.CSS_SELECTOR, ".account").text
    membership = Membership.objects.get(user__username="dev@acme.test")
    assert membership.role == Role.DEVELOPER
    assert csp_violations(browser) == []


def test_a_finance_member_sees_billing_only(browser, live_server):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    provisioned = tenant_provision(name="Acme", owner_email="owner@acme.test", owner_password=PASSWORD)
    user = get_user_model().objects.create_user("money@acme.test", email="money@acme.test", password=PASSWORD)
    member_add(tenant=provisioned.tenant, user=user, role=Role.FINANCE)
    wait = WebDriverWait(browser, 10)
    log_in(browser, live_server.url, "money@acme.test", PASSWORD)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "nav.nav")))
    assert browser.current_url.endswith("/console/billing/")
    assert nav_labels(browser) == ["Billing"]
    shot(browser, "team-05-finance")
    browser.get(f"{live_server.url}/console/apps")
    assert browser.title.startswith("Not allowed")
    assert "Create an app" not in browser.page_source


def api_status(url: str, secret: str) -> tuple[int, str]:
    """GET /v1/me over real HTTP with the key: (status, error code or "")."""
    request = urllib.request.Request(f"{url}/v1/me", headers={"Authorization": f"Bearer {secret}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())["error"]["code"]


def test_an_operator_suspends_a_tenant_whose_key_is_refused_then_resumes_it(browser, live_server):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    provisioned = tenant_provision(name="Acme", owner_email="owner@acme.test", owner_password=PASSWORD)
    secret = provisioned.test_key.secret
    get_user_model().objects.create_user("ops@platform.test", password=PASSWORD, is_staff=True)
    assert api_status(live_server.url, secret) == (200, "")
    wait = WebDriverWait(browser, 10)
    log_in(browser, live_server.url, "ops@platform.test", PASSWORD)
    wait.until(ec.presence_of_element_located((By.TAG_NAME, "h1")))
    browser.get(f"{live_server.url}/console/operator/tenants")
    search = wait.until(ec.presence_of_element_located((By.ID, "tenant-search")))
    search.send_keys("acm")
    browser.find_element(By.CSS_SELECTOR, "form[role=search] button").click()
    row = wait.until(ec.presence_of_element_located((By.ID, f"tenant-{provisioned.tenant.id}")))
    row.find_element(By.NAME, "reason").send_keys("unpaid invoice")
    row.find_element(By.XPATH, ".//button[normalize-space()='Suspend']").click()
    row = wait.until(ec.presence_of_element_located(
        (By.XPATH, f"//tr[@id='tenant-{provisioned.tenant.id}'][.//*[text()='Suspended']]")))
    shot(browser, "team-06-operator-suspended")
    assert api_status(live_server.url, secret) == (403, "tenant_suspended")
    row.find_element(By.XPATH, ".//button[normalize-space()='Resume']").click()
    wait.until(ec.presence_of_element_located(
        (By.XPATH, f"//tr[@id='tenant-{provisioned.tenant.id}'][.//*[text()='Active']]")))
    assert api_status(live_server.url, secret) == (200, "")
    assert csp_violations(browser) == []


def test_an_invited_member_of_a_tenant_requiring_two_factor_sets_it_up_right_after_the_password(
        browser, live_server):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    provisioned = tenant_provision(name="Acme", owner_email="owner@acme.test", owner_password=PASSWORD)
    Tenant.objects.filter(pk=provisioned.tenant.pk).update(require_two_factor=True)
    invitation_create(tenant_id=provisioned.tenant.pk, email="ann@acme.test", role=Role.VIEWER,
                      actor=Actor(role=Role.OWNER, user_id=provisioned.user.pk), base_url=live_server.url)
    link = LINK.search(mail.outbox[-1].body).group(1)
    wait = WebDriverWait(browser, 10)
    browser.get(link)
    wait.until(ec.presence_of_element_located((By.NAME, "password1"))).send_keys("a-long-passphrase")
    browser.find_element(By.NAME, "password2").send_keys("a-long-passphrase")
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    # Straight to the enrol page: no page of the tenant before the second factor.
    secret = wait.until(ec.presence_of_element_located((By.ID, "totp-secret"))).get_attribute("value")
    shot(browser, "team-07-enrol-after-accept")
    browser.find_element(By.NAME, "code").send_keys(totp_code(secret))
    browser.find_element(By.ID, "enable-2fa").click()
    wait.until(ec.presence_of_element_located((By.ID, "recovery-codes")))
    browser.find_element(By.ID, "done").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "nav.nav")))
    assert "Viewer" in browser.find_element(By.CSS_SELECTOR, ".account").text
    assert "Team" in nav_labels(browser) and "Audit log" not in nav_labels(browser)
    assert csp_violations(browser) == []
