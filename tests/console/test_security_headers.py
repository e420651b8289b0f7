"""Content-Security-Policy and the other browser-hardening headers on console, docs and API pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

pytestmark = pytest.mark.django_db

STRICT = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
OWNER_PAGES = ["/console/", "/console/apps", "/console/audit", "/console/settings", "/console/account/two-factor",
               "/console/sms/messages", "/console/im/", "/console/voice/", "/console/webhooks/",
               "/console/billing/"]
TEMPLATE_ROOTS = [settings.BASE_DIR / "cpaas", settings.BASE_DIR / "billing", settings.BASE_DIR / "webhooks"]
# What a CSP without 'unsafe-inline' blocks: inline <script>, <style> elements, style="" attributes,
# on…="" handlers and javascript: URLs.
INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=|javascript:", re.IGNORECASE)


def policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in (p.strip() for p in header.split(";")) if part}


def assert_strict(response) -> None:
    directives = policy(response)
    for name, value in STRICT.items():
        assert directives[name] == value, (name, directives.get(name))
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]


@pytest.mark.parametrize("path", OWNER_PAGES)
def test_every_console_page_has_the_strict_policy_and_nothing_inline(owner_client, app, path):
    response = owner_client.get(path, follow=True)
    assert response.status_code == 200
    assert_strict(response)
    assert INLINE.findall(response.content.decode()) == []


def test_the_login_and_lockout_pages_have_the_strict_policy(client):
    assert_strict(client.get(reverse("console:login")))
    for _ in range(5):
        response = client.post(reverse("console:login"), {"username": "x@y.test", "password": "nope"})
    assert response.status_code == 429
    assert_strict(response)


def test_the_docs_pages_have_the_strict_policy_and_nothing_inline(client):
    response = client.get("/docs/errors")
    assert response.status_code == 200
    assert_strict(response)
    assert INLINE.findall(response.content.decode()) == []
    assert "/static/core/docs.css" in response.content.decode()


def test_error_pages_and_the_api_carry_it_too(client, anon):
    assert_strict(client.get("/console/no-such-page"))
    assert_strict(anon.get("/v1/messages"))


def test_the_api_reference_gets_only_what_redoc_needs(client):
    response = client.get("/v1/reference")
    assert response.status_code == 200
    directives = policy(response)
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self' 'unsafe-inline'"
    assert directives["worker-src"] == "'self' blob:"
    assert directives["frame-ancestors"] == "'none'"
    page = response.content.decode()
    assert "googleapis" not in page
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []


@pytest.mark.parametrize("path", ["/console/login", "/docs/errors", "/console/"])
def test_the_other_hardening_headers(client, path):
    response = client.get(path)
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_no_template_has_inline_script_or_style():
    """What the browser would refuse under the policy, caught before it ships."""
    offenders = []
    for root in TEMPLATE_ROOTS:
        for path in Path(root).rglob("templates/**/*.html"):
            if path.name == "invoice_pdf.html":  # rendered to PDF by WeasyPrint, never served as a page
                continue
            for match in INLINE.finditer(path.read_text()):
                offenders.append(f"{path.relative_to(settings.BASE_DIR)}: {match.group(0)}")
    assert offenders == []
