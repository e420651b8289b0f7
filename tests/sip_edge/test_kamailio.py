"""The SIP edge end to end: Kamailio configured by our code, reading HA1 and writing registrations
in our PostgreSQL, driven by real baresip phones (and a raw digest client for what phones never do)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from cpaas.sip_edge.models import SipRegistration
from tests.sip_edge.conftest import free_sip_port, needs_sip, running_edge
from tests.support.digest_client import DigestRegistrar
from tests.support.sipua import baresip_ua, wav_rms, wav_seconds, write_tone

pytestmark = [pytest.mark.sip, needs_sip]

PG_SOCKET_DIR = "/var/run/postgresql"
HEARD = 0.05  # RMS of the 0.3-amplitude tone through PCMU is ~0.21; silence is < 0.001


def create(api, username: str, password: str = "correct-horse-battery", **extra) -> dict:
    response = api.post("/v1/sip/endpoints", {"username": username, "password": password, **extra}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def phone(tmp_path, edge, endpoint: dict, password: str = "correct-horse-battery", **kwargs):
    return baresip_ua(tmp_path / endpoint["username"], name=endpoint["username"], registrar=edge.address,
                      username=endpoint["username"], password=password, domain=endpoint["domain"], **kwargs)


def test_a_phone_registers_and_the_api_shows_its_registration(api, edge, tmp_path):
    alice = create(api, "alice")
    with phone(tmp_path, edge, alice) as ua:
        ua.wait_event("REGISTER_OK")
        body = api.get(f"/v1/sip/endpoints/{alice['id']}").json()
        listed = api.get("/v1/sip/endpoints").json()["data"]
    [registration] = body["registrations"]
    assert registration["contact"].startswith("sip:alice")
    assert registration["contact"].endswith(f"@127.0.0.1:{ua.sip_port}")
    assert "baresip" in registration["user_agent"]
    assert registration["source_address"] == f"127.0.0.1:{ua.sip_port}"
    assert registration["transport"] == "udp" and registration["expires_at"] > body["created"]
    assert [len(e["registrations"]) for e in listed] == [1]


def test_a_wrong_password_is_refused_with_401(api, edge, tmp_path):
    alice = create(api, "alice")
    with phone(tmp_path, edge, alice, password="not-the-password") as ua:
        failure = ua.wait_event("REGISTER_FAIL")
    # baresip answers a 401 with its credentials more than once: by its first REGISTER_FAIL the
    # edge may already throttle (403); the bare 401s are counted in the throttling tests below
    assert "401" in failure["param"] or "403 Too many failed attempts" in failure["param"]
    assert SipRegistration.objects.count() == 0


def test_repeated_failures_from_one_address_are_throttled(api, transactional_db, tmp_path):
    alice = create(api, "alice")
    with running_edge(tmp_path / "k", failures_per_address=3, failures_per_username=100) as edge:
        client = DigestRegistrar((edge.host, edge.port), alice["username"], alice["domain"])
        codes = [client.register("wrong-password-1").code for _ in range(3)]
        # the right password from the same address is refused too, for the rest of the window
        throttled = client.request()
        client.close()
    assert codes == [401, 401, 401]
    assert throttled.code == 403 and throttled.headers["retry-after"] == "300"


def test_repeated_failures_for_one_username_are_throttled_for_that_username_only(api, transactional_db, tmp_path):
    bob, carol = create(api, "bob"), create(api, "carol")
    with running_edge(tmp_path / "k", failures_per_address=100, failures_per_username=3) as edge:
        guesser = DigestRegistrar((edge.host, edge.port), "bob", bob["domain"])
        codes = [guesser.register(f"guess-{n}-password").code for n in range(3)]
        bob_now = guesser.register("correct-horse-battery").code
        carol_now = DigestRegistrar((edge.host, edge.port), "carol", carol["domain"]).register(
            "correct-horse-battery").code
        guesser.close()
    assert codes == [401, 401, 401]
    assert bob_now == 403 and carol_now == 200


def test_a_replayed_authorization_is_refused(api, edge):
    alice = create(api, "alice")
    client = DigestRegistrar((edge.host, edge.port), "alice", alice["domain"])
    challenge = client.request()
    authorization = client.authorization(challenge, "correct-horse-battery")
    first = client.request(authorization)
    replayed = client.request(authorization)  # the same nonce, count and response, as a sniffer would send
    client.close()
    assert challenge.code == 401 and 'qop="auth"' in challenge.headers["www-authenticate"]
    assert first.code == 200
    assert replayed.code == 401


def test_a_disabled_endpoint_loses_its_registration_and_cannot_register(api, edge, tmp_path):
    alice = create(api, "alice")
    client = DigestRegistrar((edge.host, edge.port), "alice", alice["domain"])
    assert client.register("correct-horse-battery").code == 200
    assert len(api.get(f"/v1/sip/endpoints/{alice['id']}").json()["registrations"]) == 1
    assert api.patch(f"/v1/sip/endpoints/{alice['id']}", {"enabled": False}, format="json").status_code == 200
    assert api.get(f"/v1/sip/endpoints/{alice['id']}").json()["registrations"] == []
    assert SipRegistration.objects.count() == 0
    assert client.register("correct-horse-battery").code == 401
    api.patch(f"/v1/sip/endpoints/{alice['id']}", {"enabled": True}, format="json")
    assert client.register("correct-horse-battery").code == 200
    client.close()


def test_a_deleted_endpoint_loses_its_registration_and_cannot_register(api, edge, tmp_path):
    alice, bob = create(api, "alice"), create(api, "bob")
    with phone(tmp_path, edge, alice) as a, phone(tmp_path, edge, bob) as b:
        a.wait_event("REGISTER_OK")
        b.wait_event("REGISTER_OK")
        assert api.delete(f"/v1/sip/endpoints/{alice['id']}").status_code == 200
        assert SipRegistration.objects.filter(username="alice").count() == 0
        b.dial(alice["sip_uri"])  # nobody to ring any more
        closed = b.wait_event("CALL_CLOSED")
        client = DigestRegistrar((edge.host, edge.port), "alice", alice["domain"])
        refused = client.register("correct-horse-battery").code
        client.close()
    assert "404" in closed["param"]
    assert refused == 401


def test_a_new_password_drops_registrations_and_only_the_new_one_registers(api, edge):
    alice = create(api, "alice")
    client = DigestRegistrar((edge.host, edge.port), "alice", alice["domain"])
    assert client.register("correct-horse-battery").code == 200
    rotated = api.patch(f"/v1/sip/endpoints/{alice['id']}", {"rotate_password": True}, format="json").json()
    assert rotated["registrations"] == [] and len(rotated["password"]) == 24
    assert client.register("correct-horse-battery").code == 401
    assert client.register(rotated["password"]).code == 200
    client.close()


def test_two_registered_phones_call_each_other_with_audio_both_ways(api, edge, tmp_path):
    alice, bob = create(api, "alice"), create(api, "bob")
    a_tone = write_tone(tmp_path / "a.wav", seconds=3, hz=440)
    b_tone = write_tone(tmp_path / "b.wav", seconds=3, hz=660)
    with phone(tmp_path, edge, alice, play=a_tone) as a, phone(tmp_path, edge, bob, play=b_tone) as b:
        a.wait_event("REGISTER_OK")
        b.wait_event("REGISTER_OK")
        a.dial(bob["sip_uri"])
        b.wait_event("CALL_ESTABLISHED")
        a.wait_event("CALL_RTPESTAB")
        b.wait_event("CALL_RTPESTAB")
        time.sleep(2)
        a.hangup()
        b.wait_event("CALL_CLOSED")
    for ua in (a, b):
        [recording] = ua.received_audio()
        assert wav_seconds(recording) > 1.0
        assert wav_rms(recording) > HEARD, ua.name


def test_a_phone_cannot_call_another_apps_phone(api, other_api, edge, tmp_path):
    alice, theirs = create(api, "alice"), create(other_api, "mallory")
    with phone(tmp_path, edge, alice) as a, phone(tmp_path, edge, theirs) as m:
        a.wait_event("REGISTER_OK")
        m.wait_event("REGISTER_OK")
        a.dial(theirs["sip_uri"])
        closed = a.wait_event("CALL_CLOSED")
    assert "403" in closed["param"]


def test_calls_to_non_endpoints_go_to_the_worker_and_the_worker_reaches_phones(api, live_api, transactional_db,
                                                                               tmp_path):
    alice = create(live_api, "alice")
    edge_port = free_sip_port()
    # a baresip stands in for the platform's SIP worker; it answers the number it is named after
    with baresip_ua(tmp_path / "worker", name="+15005550006", outbound=f"127.0.0.1:{edge_port}") as worker, \
            running_edge(tmp_path / "k", port=edge_port, worker=("127.0.0.1", worker.sip_port)) as edge, \
            phone(tmp_path, edge, alice) as a:
        a.wait_event("REGISTER_OK")
        a.dial(f"sip:+15005550006@{alice['domain']}")  # a number: not an endpoint
        worker.wait_event("CALL_ESTABLISHED")
        a.wait_event("CALL_ESTABLISHED")
        a.hangup()
        worker.wait_event("CALL_CLOSED")
        worker.dial(alice["sip_uri"])  # the platform rings the phone through the edge
        a.wait_event("CALL_ESTABLISHED")
        worker.hangup()
        a.wait_event("CALL_CLOSED")


def test_without_a_worker_calls_to_non_endpoints_get_480_and_test_endpoints_404(api, live_api, edge, tmp_path):
    live, test = create(live_api, "alice"), create(api, "bob")
    with phone(tmp_path, edge, live) as a, phone(tmp_path, edge, test) as b:
        a.wait_event("REGISTER_OK")
        b.wait_event("REGISTER_OK")
        a.dial(f"sip:+15005550006@{live['domain']}")
        assert "480" in a.wait_event("CALL_CLOSED")["param"]
        b.dial(f"sip:+15005550006@{test['domain']}")
        assert "404" in b.wait_event("CALL_CLOSED")["param"]


def test_a_phone_registers_over_tcp_and_is_called_over_it(api, edge, tmp_path):
    alice, bob = create(api, "alice"), create(api, "bob")
    with baresip_ua(tmp_path / "alice", name="alice", registrar=f"{edge.address};transport=tcp",
                    username="alice", password="correct-horse-battery", domain=alice["domain"]) as a, \
            phone(tmp_path, edge, bob) as b:
        a.wait_event("REGISTER_OK")
        b.wait_event("REGISTER_OK")
        [registration] = api.get(f"/v1/sip/endpoints/{alice['id']}").json()["registrations"]
        b.dial(alice["sip_uri"])
        a.wait_event("CALL_ESTABLISHED")
        b.hangup()
        a.wait_event("CALL_CLOSED")
    assert registration["transport"] == "tcp"


@pytest.mark.skipif(not Path(PG_SOCKET_DIR, ".s.PGSQL.5432").exists(), reason="no PostgreSQL unix socket here")
def test_the_edge_reaches_postgresql_over_a_unix_socket(api, transactional_db, settings, tmp_path):
    """As with `make run`'s embedded PostgreSQL, which listens on a socket only (decision 1121)."""
    alice = create(api, "alice")
    name = settings.DATABASES["default"]["NAME"]
    with running_edge(tmp_path / "k", db_url=f"postgres://postgres@/{name}",
                      db_env={"PGHOST": PG_SOCKET_DIR, "PGPORT": "5432"}) as edge:
        client = DigestRegistrar((edge.host, edge.port), "alice", alice["domain"])
        assert client.register("correct-horse-battery").code == 200
        client.close()
        assert SipRegistration.objects.filter(username="alice").count() == 1


def test_the_worker_is_told_which_endpoint_app_and_mode_calls(api, live_api, app, transactional_db, tmp_path):
    """The header contract with the SIP worker: set by the edge from the authenticated endpoint."""
    alice = create(live_api, "alice")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as worker:
        worker.bind(("127.0.0.1", 0))
        worker.settimeout(10)
        with running_edge(tmp_path / "k", worker=worker.getsockname()) as edge, phone(tmp_path, edge, alice) as a:
            a.wait_event("REGISTER_OK")
            a.dial(f"sip:+15005550006@{alice['domain']}")
            invite, source = worker.recvfrom(65535)
            head = invite.decode().split("\r\n\r\n", 1)[0].split("\r\n")
            headers = [line.split(":", 1) for line in head[1:]]
            values = {name.strip().lower(): value.strip() for name, value in headers}
            # a final answer, as the worker would give for a busy number
            echoed = [line for line in head[1:] if line.lower().split(":", 1)[0] in ("via", "from", "call-id", "cseq")]
            reply = "\r\n".join(["SIP/2.0 486 Busy Here", *echoed, f"To: {values['to']};tag=w1",
                                  "Content-Length: 0", "", ""])
            worker.sendto(reply.encode(), source)
            closed = a.wait_event("CALL_CLOSED")
    assert head[0].startswith("INVITE sip:+15005550006@")
    assert values["x-cpaas-endpoint"] == alice["id"] and values["x-cpaas-app"] == app.id
    assert values["x-cpaas-mode"] == "live"
    assert "486" in closed["param"]


def test_a_phone_s_own_x_cpaas_headers_never_reach_the_worker_in_dialog_either(transactional_db, tmp_path):
    """An in-dialog request (To tag, Route through the edge) skips authentication; the headers the
    worker trusts by source address must still be the edge's alone (decision 1120)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as worker, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as forger:
        worker.bind(("127.0.0.1", 0))
        worker.settimeout(10)
        forger.bind(("127.0.0.1", 0))
        w_host, w_port = worker.getsockname()
        f_port = forger.getsockname()[1]
        with running_edge(tmp_path / "k", worker=(w_host, w_port)) as edge:
            forged = "\r\n".join([
                f"BYE sip:worker@{w_host}:{w_port} SIP/2.0",
                f"Via: SIP/2.0/UDP 127.0.0.1:{f_port};branch=z9hG4bK-forged-1;rport",
                f"Route: <sip:{edge.host}:{edge.port};lr>",
                "Max-Forwards: 70",
                "From: <sip:mallory@example.invalid>;tag=m1",
                f"To: <sip:worker@{w_host}:{w_port}>;tag=w1",
                "Call-ID: forged-in-dialog@127.0.0.1",
                "CSeq: 2 BYE",
                "X-Cpaas-Endpoint: sep_someone_else",
                "X-Cpaas-App: app_someone_else",
                "X-Cpaas-Mode: live",
                "Content-Length: 0", "", ""])
            forger.sendto(forged.encode(), (edge.host, edge.port))
            relayed, _ = worker.recvfrom(65535)
    text = relayed.decode()
    assert text.startswith("BYE ") and "forged-in-dialog" in text
    assert "x-cpaas-" not in text.lower()
