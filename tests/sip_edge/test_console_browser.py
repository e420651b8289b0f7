"""In a real Chromium: from the voice page to SIP endpoints, create one, see its password once,
find it in the list; no Content-Security-Policy violation on the way."""

from __future__ import annotations

import pytest

from cpaas.sip_edge.credentials import ha1
from cpaas.sip_edge.models import SipEndpoint
from cpaas.tenants.services import tenant_provision
from tests.console.conftest import PASSWORD
from tests.console.test_browser import browser, csp_violations  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_member_creates_a_sip_endpoint_and_sees_its_password_once(browser, live_server):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    tenant_provision(name="Acme", owner_email="owner@acme.test", owner_password=PASSWORD)
    wait = WebDriverWait(browser, 10)
    browser.get(f"{live_server.url}/console/login")
    browser.find_element(By.NAME, "username").send_keys("owner@acme.test")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "nav.nav")))

    browser.find_element(By.LINK_TEXT, "Voice").click()
    wait.until(ec.presence_of_element_located((By.ID, "sip-endpoints-link"))).click()
    wait.until(ec.presence_of_element_located((By.NAME, "username"))).send_keys("frontdesk")
    browser.find_element(By.NAME, "display_name").send_keys("Front desk")
    browser.find_element(By.ID, "create-endpoint").click()

    password = wait.until(ec.presence_of_element_located((By.ID, "new-secret"))).get_attribute("value")
    endpoint = SipEndpoint.objects.get()
    assert endpoint.ha1 == ha1("frontdesk", endpoint.realm, password) and endpoint.mode == "test"
    assert browser.find_element(By.ID, "endpoint-domain").text.startswith(endpoint.realm + ".")
    browser.find_element(By.ID, "done").click()
    table = wait.until(ec.presence_of_element_located((By.ID, "sip-endpoints")))
    assert "frontdesk" in table.text and "not registered" in table.text
    assert password not in browser.page_source
    assert csp_violations(browser) == []
