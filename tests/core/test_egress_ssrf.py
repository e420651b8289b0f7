"""The egress guard and its synchronous face: the SSRF corpus refused in every spelling, the one
allow-list setting, pinning, no redirects, time and size limits. Loopback only."""

from __future__ import annotations

import threading

import pytest

from cpaas.core.egress import client, conf, ssrf, sync
from tests.support.ssrf import LOOPBACK_HOSTS, REFUSED_URLS, answer_names, is_refusal, loopback_urls


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_every_spelling_of_a_non_public_address_is_refused_when_saved(url, no_allow_list, resolver):
    answer_names(resolver)
    with pytest.raises(ssrf.NotAllowedUrl) as refused:
        ssrf.validate_url(url)
    assert refused.value.blocked and "non-public" in str(refused.value)


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_every_spelling_of_a_non_public_address_is_refused_at_connect(url, no_allow_list, resolver):
    answer_names(resolver)
    with pytest.raises(ssrf.BlockedAddress) as refused:
        ssrf.checked_addresses(client.target(url).host, 80)
    assert is_refusal(str(refused.value))


@pytest.mark.parametrize("url", [
    "https://93.184.216.34/hook",
    "http://[64:ff9b::5db8:d822]/hook",  # NAT64 of a public address is that public address
    "http://[::ffff:93.184.216.34]/hook",
    "https://[2606:2800:220:1:248:1893:25c8:1946]/hook",
])
def test_public_addresses_pass_in_any_spelling(url, no_allow_list):
    assert ssrf.validate_url(url) == url


@pytest.mark.parametrize(("url", "why"), [
    ("ftp://hooks.example.com/x", "absolute http(s)"),
    ("https://user:pass@hooks.example.com/x", "credentials"),
    ("https://hooks.example.com/x#frag", "fragment"),
    ("/relative", "absolute http(s)"),
])
def test_a_malformed_url_is_refused_for_its_shape_not_its_address(url, why):
    with pytest.raises(ssrf.UnsafeUrl) as refused:
        ssrf.validate_url(url)
    assert not refused.value.blocked and why in str(refused.value)


def test_the_allow_list_is_the_only_exemption_and_only_for_its_networks(allow_loopback, resolver):
    answer_names(resolver)
    for host in LOOPBACK_HOSTS:
        if host not in ("0.0.0.0", "0"):
            assert ssrf.validate_url(f"http://{host}:9/hook")
    for url in ("http://10.0.0.1/hook", "http://169.254.169.254/", "https://intranet.tenant.test/hook"):
        with pytest.raises(ssrf.NotAllowedUrl):
            ssrf.validate_url(url)


def test_the_allow_list_defaults_to_loopback_only_on_a_development_server(monkeypatch, settings):
    monkeypatch.delenv("EGRESS_ALLOWED_CIDRS", raising=False)
    monkeypatch.delenv("WEBHOOK_ALLOWED_CIDRS", raising=False)
    settings.DEBUG = False
    assert conf._allowed_cidrs() == []
    settings.DEBUG = True  # `make run`
    assert conf._allowed_cidrs() == ["127.0.0.0/8", "::1/128"]
    monkeypatch.setenv("WEBHOOK_ALLOWED_CIDRS", "10.9.0.0/16")  # the older name still counts
    assert conf._allowed_cidrs() == ["10.9.0.0/16"]
    monkeypatch.setenv("EGRESS_ALLOWED_CIDRS", "")  # set, even empty, it wins: nothing extra
    assert conf._allowed_cidrs() == []


def test_the_sync_facade_never_connects_to_a_refused_address(receiver, no_allow_list, resolver):
    answer_names(resolver)
    port = int(receiver.base.rsplit(":", 1)[1])
    for url in loopback_urls(port):
        with pytest.raises(ssrf.BlockedAddress) as refused:
            sync.post(url, b"{}", {"content-type": "application/json"}, timeout=2)
        assert is_refusal(str(refused.value)), url
    assert receiver.received == []


def test_the_sync_facade_reaches_an_allowed_receiver_and_keeps_the_connection(receiver, allow_loopback):
    receiver.bodies["/hook"] = b'{"ok":true}'
    first = sync.post(f"{receiver.base}/hook", b"{}", {"content-type": "application/json"})
    second = sync.post(f"{receiver.base}/hook", b"{}", {"content-type": "application/json"})
    assert (first.status, bytes(first.body)) == (200, b'{"ok":true}') and second.status == 200
    assert len(set(receiver.ports)) == 1


def test_a_name_is_resolved_once_and_the_checked_address_is_the_one_connected(receiver, allow_loopback, resolver):
    # First answer loopback (allowed here), any later lookup the metadata address: there is none.
    resolver["rebind.tenant.test"] = ["127.0.0.1", "169.254.169.254"]
    port = int(receiver.base.rsplit(":", 1)[1])
    assert sync.post(f"http://rebind.tenant.test:{port}/hook", b"{}", {}).status == 200
    assert receiver.received[0][1]["host"] == f"rebind.tenant.test:{port}"


def test_a_redirect_is_never_followed(receiver, allow_loopback):
    receiver.answer("/hook", 302, location=f"{receiver.base}/inside")
    response = sync.post(f"{receiver.base}/hook", b"{}", {})
    assert response.status == 302
    assert [path for path, _, _ in receiver.received] == ["/hook"]


def test_an_answer_is_read_only_up_to_the_cap(receiver, allow_loopback):
    receiver.bodies["/hook"] = b"x" * 100_000
    response = sync.post(f"{receiver.base}/hook", b"{}", {}, max_body=1000)
    assert response.truncated and len(response.body) == 1000


def test_a_receiver_that_never_answers_times_out(receiver, allow_loopback):
    receiver.hang = threading.Event()
    try:
        with pytest.raises(TimeoutError):
            sync.post(f"{receiver.base}/hook", b"{}", {}, timeout=0.5)
    finally:
        receiver.hang.set()


def test_post_many_answers_each_request_with_its_response_or_its_error(receiver, no_allow_list, monkeypatch):
    monkeypatch.setattr(conf, "ALLOWED_CIDRS", ["127.0.0.1/32"])
    port = int(receiver.base.rsplit(":", 1)[1])
    results = sync.post_many([sync.Request(f"{receiver.base}/a", b"1", {}),
                              sync.Request(f"http://127.0.0.2:{port}/b", b"2", {})])
    assert results[0].status == 200 and isinstance(results[1], ssrf.BlockedAddress)
    assert [path for path, _, _ in receiver.received] == ["/a"]
