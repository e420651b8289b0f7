"""Our X-Twilio-Signature is the one the official SDK's RequestValidator computes."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import QueryDict
from twilio.request_validator import RequestValidator

from cpaas.twilio import signature

URL = "https://tenant.example:8443/hook?x=1&y=%C3%A9"
PARAMS = [("To", "+15005550000"), ("Body", "héllo & bye"), ("A", "2"), ("A", "1"), ("Empty", "")]


def test_it_matches_the_sdk_for_sorted_repeated_and_unicode_parameters():
    sdk = RequestValidator("whsec_abc")
    as_received = QueryDict(urlencode(PARAMS))  # what a Django receiver hands the validator
    assert signature.compute("whsec_abc", URL, PARAMS) == sdk.compute_signature(URL, as_received)


def test_a_signed_form_post_validates_only_with_its_secret():
    body = signature.form_body({"To": "+15005550000", "Body": "héllo & bye", "Empty": ""})
    headers = signature.headers("whsec_abc", URL, body)
    received = dict(signature.form_params(body))
    assert RequestValidator("whsec_abc").validate(URL, received, headers["x-twilio-signature"])
    assert not RequestValidator("whsec_other").validate(URL, received, headers["x-twilio-signature"])
    assert not RequestValidator("whsec_abc").validate(URL, {**received, "To": "+1"}, headers["x-twilio-signature"])
