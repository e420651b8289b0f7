"""TOTP two-factor sign-in (django-otp devices of our own): enrolment, the code step, recovery codes, turning it off."""

from __future__ import annotations

import base64
import time
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP

from cpaas.console.models import AuthenticatorDevice, RecoveryCode, recovery_code_hash
from cpaas.tenants.models import AuditLogEntry
from tests.console.conftest import PASSWORD, logged_in

pytestmark = pytest.mark.django_db

LOGIN = reverse("console:login")
CODE = reverse("console:login-code")
TWO_FACTOR = reverse("console:two-factor")
HOME = reverse("console:home")
OWNER = "owner@acme.test"


def code_for(device: AuthenticatorDevice | str, steps_ahead: int = 0) -> str:
    """What the user's authenticator app shows now (or ``steps_ahead`` 30-second steps later), for
    an enrolled device or for the base32 secret of the enrol page."""
    if isinstance(device, str):
        totp = TOTP(base64.b32decode(device + "=" * (-len(device) % 8)))
    else:
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * 30
    return f"{totp.token():06d}"


def wrong_code(device: AuthenticatorDevice | str) -> str:
    """Six digits the app does not show in the accepted window (one step either side)."""
    valid = {code_for(device, steps) for steps in (-1, 0, 1, 2)}
    return next(code for code in ("000000", "111111", "222222", "333333", "444444") if code not in valid)


def enrol_form(client: Client) -> tuple[str, str]:
    """The enrol page's secret (as typed into an app) and the signed key its form posts back."""
    enrolment = client.get(TWO_FACTOR).context["enrolment"]
    return enrolment.secret, enrolment.signed_key


def enrol(client: Client, user) -> list[str]:
    """Set up two-factor through the pages, as a user would; returns the recovery codes shown."""
    secret, key = enrol_form(client)
    response = client.post(TWO_FACTOR, {"key": key, "code": code_for(secret)})
    assert response.status_code == 201
    return response.context["codes"]


@pytest.fixture
def enrolled(owner):
    """The owner with two-factor on; yields their recovery codes."""
    return enrol(logged_in(owner), owner)


def password_step(client: Client, username: str = OWNER):
    return client.post(LOGIN, {"username": username, "password": PASSWORD}, REMOTE_ADDR="203.0.113.7")


def code_step(client: Client, code: str):
    return client.post(CODE, {"code": code}, REMOTE_ADDR="203.0.113.7")


# --- Enrolment ----------------------------------------------------------------------------------


def test_the_enrol_page_shows_a_qr_code_and_the_secret_and_stores_nothing(owner_client, owner):
    first = owner_client.get(TWO_FACTOR)
    assert first.status_code == 200
    page = first.content.decode()
    assert "<svg" in page and "<path" in page
    secret = first.context["enrolment"].secret
    assert len(secret) == 32 and secret in page
    assert "no-store" in first["Cache-Control"]
    assert not AuthenticatorDevice.objects.filter(user=owner).exists()  # a GET writes nothing


def test_the_qr_code_carries_the_otpauth_uri_of_the_secret(owner_client, owner):
    enrolment = owner_client.get(TWO_FACTOR).context["enrolment"]
    key = base64.b32decode(enrolment.secret).hex()
    uri = AuthenticatorDevice(user=owner, name="x", key=key).config_url
    assert uri.startswith("otpauth://totp/") and "issuer=CPaaS%20console" in uri
    assert f"secret={enrolment.secret}" in uri


def test_a_wrong_code_does_not_turn_it_on_and_keeps_the_secret(owner_client, owner):
    secret, key = enrol_form(owner_client)
    response = owner_client.post(TWO_FACTOR, {"key": key, "code": wrong_code(secret)})
    assert response.status_code == 400
    assert b"not right" in response.content
    assert response.context["enrolment"].secret == secret  # the one already in the user's app
    assert not AuthenticatorDevice.objects.filter(user=owner).exists()
    assert owner_client.post(TWO_FACTOR, {"key": key, "code": code_for(secret)}).status_code == 201


def test_a_key_signed_for_another_user_or_tampered_with_is_refused(owner_client, developer_client):
    secret, key = enrol_form(developer_client)
    assert owner_client.post(TWO_FACTOR, {"key": key, "code": code_for(secret)}).status_code == 400
    assert owner_client.post(TWO_FACTOR, {"key": key[:-2] + "xx", "code": code_for(secret)}).status_code == 400
    assert not AuthenticatorDevice.objects.exists()


def test_confirming_shows_ten_recovery_codes_once_and_audits(owner_client, owner, tenant):
    codes = enrol(owner_client, owner)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert AuthenticatorDevice.objects.filter(user=owner, confirmed=True).count() == 1
    assert RecoveryCode.objects.filter(device__user=owner).count() == 10
    again = owner_client.get(TWO_FACTOR).content.decode()
    assert AuthenticatorDevice.objects.get(user=owner).last_t > 0  # the code used to confirm cannot sign in
    assert "On" in again and "10 recovery codes left" in again
    assert not any(code in again for code in codes)
    entry = AuditLogEntry.objects.get(tenant=tenant, action="console.two_factor_enabled")
    assert entry.actor_user_id == owner.pk


# --- The code step ------------------------------------------------------------------------------


def test_the_password_alone_does_not_log_an_enrolled_user_in(enrolled):
    client = Client()
    response = password_step(client)
    assert response.status_code == 302
    assert response["Location"] == CODE
    assert "_auth_user_id" not in client.session
    assert client.get(HOME).status_code == 302


def test_the_right_code_completes_the_login(enrolled, owner):
    client = Client()
    password_step(client)
    response = code_step(client, code_for(AuthenticatorDevice.objects.get(user=owner), steps_ahead=1))
    assert response.status_code == 302
    assert response["Location"] == HOME
    assert client.get(HOME).status_code == 200


def test_the_code_step_keeps_where_the_member_was_going(enrolled, owner):
    client = Client()
    client.post(LOGIN + "?next=/console/audit", {"username": OWNER, "password": PASSWORD, "next": "/console/audit"})
    response = code_step(client, code_for(AuthenticatorDevice.objects.get(user=owner), steps_ahead=1))
    assert response["Location"] == "/console/audit"


def test_a_wrong_code_is_refused(enrolled, owner):
    client = Client()
    password_step(client)
    with time_machine.travel(timezone.now(), tick=True) as traveller:
        response = code_step(client, wrong_code(AuthenticatorDevice.objects.get(user=owner)))
        assert response.status_code == 200
        assert b"not right" in response.content
        assert "_auth_user_id" not in client.session
        # django-otp throttles the device for a second after a failure; then the right code works.
        traveller.shift(timedelta(seconds=2))
        response = code_step(client, code_for(AuthenticatorDevice.objects.get(user=owner), steps_ahead=1))
    assert response.status_code == 302


def test_a_code_cannot_be_used_twice(enrolled, owner):
    device = AuthenticatorDevice.objects.get(user=owner)
    code = code_for(device, steps_ahead=1)
    first = Client()
    password_step(first)
    assert code_step(first, code).status_code == 302
    second = Client()
    password_step(second)
    assert code_step(second, code).status_code == 200
    assert "_auth_user_id" not in second.session


def test_wrong_codes_count_towards_the_lockout(enrolled, owner):
    client = Client()
    password_step(client)
    for _ in range(4):
        assert code_step(client, "abcdefgh").status_code == 200
    response = code_step(client, "abcdefgh")
    assert response.status_code == 429
    assert b"Too many attempts" in response.content
    # The code step is over, and the password step is locked for this address too.
    assert client.get(CODE).status_code == 302
    assert password_step(Client()).status_code == 429


def test_the_code_step_expires_after_five_minutes(enrolled, owner):
    client = Client()
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        password_step(client)
        traveller.shift(timedelta(minutes=5, seconds=1))
        response = code_step(client, code_for(AuthenticatorDevice.objects.get(user=owner), steps_ahead=1))
    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert "_auth_user_id" not in client.session


def test_the_code_page_without_a_password_step_goes_back_to_login(db, client):
    assert client.get(CODE)["Location"] == LOGIN


def test_a_recovery_code_works_once(enrolled):
    code = enrolled[0]
    client = Client()
    password_step(client)
    response = code_step(client, code.upper())
    assert response.status_code == 302
    assert client.get(HOME).status_code == 200
    assert not RecoveryCode.objects.filter(code_hash=recovery_code_hash(code.replace("-", ""))).exists()

    again = Client()
    password_step(again)
    assert code_step(again, code).status_code == 200
    assert "_auth_user_id" not in again.session


# --- Turning it off -----------------------------------------------------------------------------


def test_turning_it_off_needs_a_valid_code(owner, tenant):
    client = logged_in(owner)
    enrol(client, owner)
    with time_machine.travel(timezone.now(), tick=True) as traveller:
        refused = client.post(TWO_FACTOR, {"code": "zzzzzzzz"})
        assert refused.status_code == 400
        assert AuthenticatorDevice.objects.filter(user=owner, confirmed=True).exists()
        traveller.shift(timedelta(seconds=2))
        done = client.post(TWO_FACTOR, {"code": code_for(AuthenticatorDevice.objects.get(user=owner), steps_ahead=1)})
    assert done.status_code == 302
    assert not AuthenticatorDevice.objects.filter(user=owner).exists()
    assert not RecoveryCode.objects.filter(device__user=owner).exists()
    assert AuditLogEntry.objects.filter(tenant=tenant, action="console.two_factor_disabled").count() == 1
    # Back to a password-only login.
    assert password_step(Client())["Location"] == HOME


def test_a_session_without_the_second_factor_ends_once_the_user_has_one(owner):
    old_session = logged_in(owner)
    enrol(logged_in(owner), owner)
    response = old_session.get(HOME)
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)
    assert "_auth_user_id" not in old_session.session
