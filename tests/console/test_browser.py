"""Real browser runs: log in, create a key, see its secret once, revoke it through htmx; set up
two-factor sign-in and log in with a code; every page visited under the CSP without a violation.

Needs Debian's chromium and chromium-driver (``make test`` installs them). Without them this test
fails, on purpose, unless CPAAS_SKIP_BROWSER=1. Set CPAAS_SCREENSHOT_DIR to keep screenshots.
"""

from __future__ import annotations

import base64
import os
import shutil
import time
from pathlib import Path

import pytest
from django_otp.oath import TOTP

from cpaas.tenants.models import ApiKey
from cpaas.tenants.services import tenant_provision
from tests.console.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


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


def shot(driver, name: str) -> None:
    directory = os.environ.get("CPAAS_SCREENSHOT_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(directory) / f"{name}.png"))


def csp_violations(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if "Content Security Policy" in entry["message"]]


def totp_code(secret: str, steps_ahead: int = 0) -> str:
    """What an authenticator app shows for the secret typed in from the enrol page."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    totp = TOTP(key)
    totp.time = time.time() + steps_ahead * 30
    return f"{totp.token():06d}"


def test_a_member_creates_a_key_sees_it_once_and_revokes_it_with_htmx(browser, live_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    provisioned = tenant_provision(name="Acme", owner_email="owner@acme.test", owner_password=PASSWORD)
    app = provisioned.app
    wait = WebDriverWait(browser, 10)

    browser.get(f"{live_server.url}/console/login")
    shot(browser, "01-login")
    browser.find_element(By.NAME, "username").send_keys("owner@acme.test")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "nav.nav")))
    assert "Acme" in browser.find_element(By.TAG_NAME, "h1").text
    shot(browser, "02-overview")

    browser.find_element(By.LINK_TEXT, "Apps & API keys").click()
    wait.until(ec.presence_of_element_located((By.LINK_TEXT, "Default app")))
    shot(browser, "02-apps")
    browser.find_element(By.LINK_TEXT, "Default app").click()
    wait.until(ec.presence_of_element_located((By.LINK_TEXT, "Create API key"))).click()
    wait.until(ec.presence_of_element_located((By.NAME, "name"))).send_keys("Browser key")
    browser.find_element(By.CSS_SELECTOR, "input[name=products][value=sms]").click()
    shot(browser, "03-new-key")
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()

    secret_box = wait.until(ec.presence_of_element_located((By.ID, "new-secret")))
    secret = secret_box.get_attribute("value")
    assert secret.startswith("sk_test_")
    key = ApiKey.objects.get(app=app, name="Browser key")
    assert key.redacted.replace("…", "") == secret[:12] + secret[-4:]
    browser.find_element(By.ID, "copy-secret").click()
    wait.until(lambda d: d.find_element(By.ID, "copy-secret").text == "Copied")
    shot(browser, "04-secret-once")

    browser.find_element(By.ID, "done").click()
    row = wait.until(ec.presence_of_element_located((By.ID, f"key-{key.id}")))
    assert secret not in browser.page_source
    assert "Active" in row.text and key.redacted in row.text
    keys_url = browser.current_url
    shot(browser, "05-keys")

    # htmx: the row turns into a confirmation, in place, without leaving the page.
    row.find_element(By.LINK_TEXT, "Revoke").click()
    confirm = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f"#key-{key.id}.confirm-row")))
    assert browser.current_url == keys_url
    shot(browser, "06-confirm")
    confirm.find_element(By.XPATH, ".//button[normalize-space()='Revoke key']").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f"#key-{key.id}.key-revoked")))
    assert browser.current_url == keys_url
    assert "Revoked" in browser.find_element(By.ID, f"key-{key.id}").text
    shot(browser, "07-revoked")
    browser.find_element(By.LINK_TEXT, "Audit log").click()
    wait.until(ec.presence_of_element_located((By.XPATH, "//*[contains(text(), 'api_key.revoked')]")))
    shot(browser, "08-audit")

    key.refresh_from_db()
    assert key.revoked_at is not None
    assert secret not in browser.page_source


def test_a_member_sets_up_two_factor_and_logs_in_with_a_code_under_the_csp(browser, live_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    tenant_provision(name="Acme", owner_email="owner@acme.test", owner_password=PASSWORD)
    wait = WebDriverWait(browser, 10)

    def log_in() -> None:
        browser.get(f"{live_server.url}/console/login")
        browser.find_element(By.NAME, "username").send_keys("owner@acme.test")
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    log_in()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "nav.nav")))
    browser.find_element(By.LINK_TEXT, "Two-factor sign-in").click()
    secret = wait.until(ec.presence_of_element_located((By.ID, "totp-secret"))).get_attribute("value")
    qr = browser.find_element(By.CSS_SELECTOR, ".qr svg")
    assert qr.size["width"] > 100 and qr.size["height"] > 100  # drawn, at the stylesheet's size
    shot(browser, "11-enrol")
    browser.find_element(By.NAME, "code").send_keys(totp_code(secret))
    browser.find_element(By.ID, "enable-2fa").click()
    codes = wait.until(ec.presence_of_element_located((By.ID, "recovery-codes"))).get_attribute("value").split()
    assert len(codes) == 10
    shot(browser, "12-recovery-codes")
    browser.find_element(By.ID, "done").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "nav.nav")))
    browser.find_element(By.CSS_SELECTOR, ".account button[type=submit]").click()

    # The password alone is not enough: the code step comes next.
    wait.until(ec.presence_of_element_located((By.NAME, "username")))
    log_in()
    wait.until(ec.presence_of_element_located((By.NAME, "code"))).send_keys(totp_code(secret, steps_ahead=1))
    shot(browser, "13-code-step")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "nav.nav")))
    assert "Acme" in browser.find_element(By.TAG_NAME, "h1").text

    # Every page of the nav, the docs and the API reference render without a CSP violation.
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "nav.nav a")]
    assert len(links) >= 4
    for number, url in enumerate(links):
        browser.get(url)
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "main h1")))
        shot(browser, f"15-page-{number}")
    browser.get(f"{live_server.url}/docs/errors")
    wait.until(ec.presence_of_element_located((By.TAG_NAME, "table")))
    assert browser.find_element(By.TAG_NAME, "td").value_of_css_property("border-top-style") == "solid"
    browser.get(f"{live_server.url}/v1/reference")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".api-content")))
    shot(browser, "14-reference")
    # Redoc's "powered by" logo comes from its CDN: blocked on purpose (no third-party requests).
    assert [m for m in csp_violations(browser) if "cdn.redoc.ly/redoc/logo-mini.svg" not in m] == []
