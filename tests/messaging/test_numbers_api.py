import pytest

from cpaas.messaging.inventory import number_assign, sandbox_numbers_provision
from cpaas.messaging.models import PhoneNumber
from cpaas.tenants.keys import api_key_create
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_a_test_key_provisions_a_sandbox_number_at_once(api):
    response = api.post("/v1/numbers", {"capabilities": ["sms"]}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("pn_")
    assert body["number"].startswith("+1500555")
    assert (body["capabilities"], body["connector"], body["livemode"]) == (["sms"], "sandbox", False)
    assert api.get("/v1/numbers").json()["data"][0]["number"] == body["number"]
    assert api.get(f"/v1/numbers/{body['id']}").status_code == 200


def test_a_chosen_test_number_must_be_free_and_in_the_sandbox_range(api, other_api):
    assert api.post("/v1/numbers", {"number": "+15005551234"}, format="json").status_code == 201
    taken = other_api.post("/v1/numbers", {"number": "+15005551234"}, format="json")
    assert (taken.status_code, taken.json()["error"]["code"]) == (409, "number_unavailable")
    outside = api.post("/v1/numbers", {"number": "+12025550123"}, format="json")
    assert (outside.json()["error"]["code"], outside.json()["error"]["param"]) == ("invalid_phone_number", "number")
    bad = api.post("/v1/numbers", {"number": "12"}, format="json")
    assert bad.json()["error"]["code"] == "invalid_phone_number"
    assert api.post("/v1/numbers", {"capabilities": ["fax"]}, format="json").json()["error"]["param"] == \
        "capabilities"
    assert api.post("/v1/numbers", {"colour": "red"}, format="json").json()["error"]["code"] == "invalid_request"


def test_live_numbers_are_assigned_by_the_operator(app):
    live = client_for(api_key_create(app=app, name="live", mode="live").secret)
    assert live.post("/v1/numbers", {}, format="json").status_code == 403
    number = number_assign(app=app, number="020 7946 0018", connector="smsc1", country_hint="GB")
    assert (number.number, number.country, number.mode) == ("+442079460018", "GB", "live")
    assert live.get("/v1/numbers").json()["data"][0]["number"] == "+442079460018"


def test_another_tenants_number_is_not_found(api, other_api):
    created = api.post("/v1/numbers", {}, format="json").json()
    assert other_api.get(f"/v1/numbers/{created['id']}").status_code == 404
    assert other_api.get("/v1/numbers").json()["data"] == []


def test_the_demo_app_gets_a_few_numbers(app):
    assert len(sandbox_numbers_provision(app=app, count=3)) == 3
    assert len(sandbox_numbers_provision(app=app, count=3)) == 3
    assert PhoneNumber.objects.filter(app=app).count() == 3


def test_sender_pools_only_take_owned_numbers(api, other_api):
    theirs = other_api.post("/v1/numbers", {}, format="json").json()["number"]
    response = api.post("/v1/sender_pools", {"name": "x", "numbers": [theirs]}, format="json")
    assert response.json()["error"]["code"] == "sender_not_owned"
    assert api.post("/v1/sender_pools", {"numbers": []}, format="json").json()["error"]["param"] == "numbers"


def test_a_sender_pool_of_another_tenant_is_not_found(api, other_api):
    number = other_api.post("/v1/numbers", {}, format="json").json()["number"]
    pool = other_api.post("/v1/sender_pools", {"name": "x", "numbers": [number]}, format="json").json()
    response = api.post("/v1/messages", {"to": "+15005550000", "sender_pool": pool["id"], "body": "x"},
                        format="json")
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "sender_pool"


def test_settings_refuse_bad_values(api, live_api):
    for body, param in (({"allowed_countries": "US"}, "allowed_countries"), ({"daily_cap": 0}, "daily_cap"),
                        ({"help_text": "x" * 400}, "help_text"), ({"nope": 1}, "nope")):
        assert live_api.post("/v1/sms/settings", body, format="json").json()["error"]["param"] == param


def test_settings_belong_to_one_app(api, other_api, live_api):
    live_api.post("/v1/sms/settings", {"daily_cap": 5, "allowed_countries": ["gb", "us"]}, format="json")
    api.post("/v1/sms/settings", {}, format="json")  # the test mode's first write makes its callback secret
    mine, theirs = api.get("/v1/sms/settings").json(), other_api.get("/v1/sms/settings").json()
    assert (mine["daily_cap"], mine["allowed_countries"]) == (5, ["GB", "US"])
    assert (theirs["daily_cap"], theirs["allowed_countries"]) == (None, None)
    assert mine["callback_secret_hint"].startswith("whsec_…") and theirs["callback_secret_hint"] is None
    assert "callback_secret" not in mine


def test_operators_configure_connectors_routes_and_numbers_from_the_command_line(app):
    from io import StringIO

    from django.core.management import call_command

    from cpaas.messaging.models import Connector, Route

    out = StringIO()
    call_command("sms_connector", "acme", "smpp", "--config", '{"host": "h", "port": 2775}',
                 "--route-prefix", "+44", "--priority", "5", stdout=out)
    assert Connector.objects.get(pk="acme").config["port"] == 2775
    assert Route.objects.get(connector_id="acme").prefix == "+44"
    call_command("sms_number_assign", app.pk, "+442079460018", "--connector", "acme", stdout=out)
    assert PhoneNumber.objects.get(number="+442079460018").app_id == app.pk


def test_a_tenant_cannot_take_the_whole_shared_sandbox_range(api, other_api, settings):
    # 9,000 sandbox numbers serve every tenant: one test key must not be able to hold them all.
    settings.SANDBOX_NUMBERS_PER_TENANT = 3
    assert [api.post("/v1/numbers", {}, format="json").status_code for _ in range(3)] == [201] * 3
    refused = api.post("/v1/numbers", {"number": "+15005559876"}, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "too_many_numbers")
    assert api.post("/v1/numbers", {}, format="json").status_code == 409
    assert PhoneNumber.objects.filter(number="+15005559876").count() == 0
    assert other_api.post("/v1/numbers", {"number": "+15005559876"}, format="json").status_code == 201


def test_a_test_key_cannot_change_the_policy_live_traffic_follows(api, live_api, app):
    live_api.post("/v1/sms/settings", {"allowed_countries": ["us"]}, format="json")
    for body in ({"allowed_countries": ["gb"]}, {"daily_cap": 1}, {"velocity_limit": 1}, {"help_text": "x"}):
        response = api.post("/v1/sms/settings", body, format="json")
        assert response.status_code == 403
        error = response.json()["error"]
        assert (error["code"], error["param"]) == ("live_key_required", next(iter(body)))
    settings = live_api.get("/v1/sms/settings").json()
    assert (settings["allowed_countries"], settings["daily_cap"], settings["velocity_limit"]) == (["US"], None, None)


def test_a_number_gets_its_voice_urls(api, app, allow_loopback):
    created = api.post("/v1/numbers", {"capabilities": ["sms", "voice"]}, format="json").json()
    response = api.post(f"/v1/numbers/{created['id']}", {"voice_url": "https://tenant.example/voice",
                                                          "voice_fallback_url": "https://tenant.example/backup"},
                        format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["voice_url"], body["voice_fallback_url"]) == ("https://tenant.example/voice",
                                                               "https://tenant.example/backup")
    assert api.get(f"/v1/numbers/{created['id']}").json()["voice_url"] == "https://tenant.example/voice"
    cleared = api.post(f"/v1/numbers/{created['id']}", {"voice_fallback_url": ""}, format="json").json()
    assert (cleared["voice_url"], cleared["voice_fallback_url"]) == ("https://tenant.example/voice", "")


def test_bad_voice_urls_are_refused_with_their_param(api, other_api):
    created = api.post("/v1/numbers", {}, format="json").json()
    path = f"/v1/numbers/{created['id']}"
    private = api.post(path, {"voice_url": "http://10.0.0.1/voice"}, format="json").json()["error"]
    assert (private["code"], private["param"]) == ("url_not_allowed", "voice_url")
    bad = api.post(path, {"voice_fallback_url": "ftp://x"}, format="json").json()["error"]
    assert (bad["code"], bad["param"]) == ("invalid_request", "voice_fallback_url")
    assert api.post(path, {"voice_url": 7}, format="json").json()["error"]["param"] == "voice_url"
    assert api.post(path, {"colour": "red"}, format="json").json()["error"]["param"] == "colour"
    assert other_api.post(path, {"voice_url": "https://tenant.example/x"}, format="json").status_code == 404
    assert PhoneNumber.objects.get(pk=created["id"]).voice_url == ""
