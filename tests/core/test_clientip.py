"""The client address: REMOTE_ADDR, or X-Forwarded-For only through trusted proxies."""

import pytest
from django.test import RequestFactory

from cpaas.core.clientip import client_ip


@pytest.mark.parametrize(("trusted", "remote", "forwarded", "expected"), [
    ([], "203.0.113.7", "192.0.2.1", "203.0.113.7"),
    (["10.0.0.0/8"], "203.0.113.7", "192.0.2.1", "203.0.113.7"),  # the peer is no proxy of ours
    (["10.0.0.0/8"], "10.0.0.2", "192.0.2.1", "192.0.2.1"),
    (["10.0.0.0/8"], "10.0.0.2", "198.51.100.9, 192.0.2.1", "192.0.2.1"),
    (["10.0.0.0/8"], "10.0.0.2", "192.0.2.1, 10.3.3.3", "192.0.2.1"),
    (["10.0.0.0/8"], "10.0.0.2", "", "10.0.0.2"),
    (["10.0.0.0/8"], "10.0.0.2", "garbage", "10.0.0.2"),
    (["10.0.0.0/8"], "10.0.0.2", "[2001:db8::5]:443", "2001:db8::5"),
    ([], "::ffff:203.0.113.7", "", "203.0.113.7"),
    ([], "", "192.0.2.1", None),
])
def test_it_believes_forwarded_addresses_only_from_trusted_proxies(settings, trusted, remote, forwarded, expected):
    settings.TRUSTED_PROXIES = trusted
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
