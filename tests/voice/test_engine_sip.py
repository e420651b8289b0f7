"""Calls played out over real SIP and RTP: the engine drives the SIP connector through a real trunk
(Kamailio, digest auth) to a real far-end phone (baresip) that records what it hears.

Skipped, with the reason, where baresip, kamailio, espeak-ng or sox is missing (`make test`
installs them).
"""

from __future__ import annotations

import array
import asyncio
import itertools
import shutil
import socket
import subprocess
import time
import wave
from pathlib import Path

import httpx
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings

from cpaas.carriers.clock import RealClock
from cpaas.carriers.sip import SipConfig, SipVoiceConnector
from cpaas.carriers.sip.trust import trust_secret_from
from cpaas.core.scoping import Scope
from cpaas.messaging.inventory import number_assign
from cpaas.voice.engine import CallEngine
from cpaas.voice.inbound import endpoint_call_create
from cpaas.voice.models import Call, CallLeg, Recording
from cpaas.voice.runtime import register_engine
from cpaas.voice.services import call_modify
from cpaas.voice.storage import recordings_storage
from cpaas.voice.urlguard import TenantClients
from tests.sip_edge.conftest import running_edge
from tests.support import kamailio, sipua
from tests.support.kamailio import kamailio_trunk
from tests.support.sipua import baresip_ua, wav_rms, wav_seconds, write_tone
from tests.voice.conftest import MockFetcher
from webhooks.models import Event

pytestmark = [
    pytest.mark.sip,
    pytest.mark.skipif(bool(sipua.missing_binaries() + kamailio.missing_binaries())
                       or not (shutil.which("espeak-ng") and shutil.which("sox")),
                       reason="baresip, kamailio, espeak-ng or sox not installed (make test installs them)"),
]

FROM = "+15005559000"
PHONE = "+12025551234"  # the far-end baresip's number behind the trunk
SPOKEN = "Hello. This is your appointment reminder. Please call us back tomorrow morning."
USER, PASSWORD = "acme", "trunk-secret"
SPEECH_RMS = 0.02  # espeak through PCMU measures ~0.07; silence stays below 0.001


def place(api, document: str, *, to: str = PHONE, **extra) -> str:
    response = api.post("/v1/calls", {"to": to, "from": FROM, "instructions": document, **extra}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def leg_a(call_id: str) -> CallLeg:
    return CallLeg.objects.get(call_id=call_id, role="a")


def types(call_id: str) -> list[str]:
    return sorted(e.type for e in Event.objects.filter(data__call_id=call_id))


class Far:
    """The far end: a baresip phone behind a Kamailio trunk that wants digest credentials."""

    def __init__(self, ua: sipua.SipUA, trunk: kamailio.Trunk) -> None:
        self.ua, self.trunk = ua, trunk

    def connector(self, **overrides) -> SipVoiceConnector:
        config = {"host": "127.0.0.1", "port": self.trunk.port, "plus": False, "username": USER,
                  "password": PASSWORD, "caller_id": "both", **overrides}
        return SipVoiceConnector(clock=RealClock(), config=SipConfig.parse(config))

    def heard(self) -> Path:
        recordings = self.ua.received_audio()
        assert len(recordings) == 1, recordings
        return recordings[0]


@pytest.fixture
def far(tmp_path, request):
    marker = request.node.get_closest_marker("phone")
    options = dict(marker.kwargs) if marker else {}
    # The phone sends a tone (so recordings hold something) unless the test's marker says otherwise.
    options.setdefault("play", write_tone(tmp_path / "tone.wav", seconds=20))
    with baresip_ua(tmp_path / "phone", name=PHONE[1:], **options) as ua, \
            kamailio_trunk(tmp_path / "trunk", target=f"127.0.0.1:{ua.sip_port}", users={USER: PASSWORD}) as trunk:
        yield Far(ua, trunk)


def run(voice, network: SipVoiceConnector, *call_ids: str, during=None) -> list:
    """Play the calls out on ``network`` (the tenant's URLs answered by ``voice.route``, or, with
    ``voice.real_http``, by real servers through the workers' guarded egress clients)."""

    async def main():
        http = TenantClients() if voice.real_http else MockFetcher(voice._handle)
        engine = CallEngine(clock=network.clock, connector_for=lambda mode: network, http=http)
        register_engine(engine, asyncio.get_running_loop())
        jobs = [engine.run_call(call_id) for call_id in call_ids]
        if during is not None:
            jobs.append(during())
        try:
            async with asyncio.timeout(60):
                return await asyncio.gather(*jobs)
        finally:
            await network.close()
            await http.aclose()

    return async_to_sync(main)()


async def in_thread(fn, *args, **kwargs):
    return await sync_to_async(fn, thread_sensitive=False)(*args, **kwargs)


def test_say_is_heard_by_the_far_end_and_the_call_completes(api, voice, far):
    call_id = place(api, f"<Response><Say>{SPOKEN}</Say></Response>")
    assert run(voice, far.connector(), call_id) == ["completed"]
    call, leg = Call.objects.get(pk=call_id), leg_a(call_id)
    assert (call.status, call.hangup_cause) == ("completed", "document_end")
    assert (leg.status, leg.sip_code, leg.hangup_by) == ("completed", 200, "platform")
    assert leg.ringing_at is not None and leg.answered_at is not None
    established = far.ua.wait_event("CALL_ESTABLISHED")
    assert established["peeruri"].startswith(f"sip:{FROM[1:]}@")  # our caller id in From
    closed = far.ua.wait_event("CALL_CLOSED")
    assert "Connection reset" in closed.get("param", "") or closed  # our BYE ended it
    heard = far.heard()
    # The sentence lasts ~5 s in espeak-ng: most of it arrived, and it is speech, not silence.
    assert wav_seconds(heard) > 4.0
    assert wav_rms(heard) > SPEECH_RMS
    assert types(call_id) == sorted(["call.initiated", "call.ringing", "call.answered", "call.completed",
                                     "call.leg.completed"])


def test_the_far_end_hangs_up(api, voice, far):
    call_id = place(api, '<Response><Say>Please hold.</Say><Pause length="30"/></Response>')

    async def phone_hangs_up():
        await in_thread(far.ua.wait_event, "CALL_ESTABLISHED")
        await asyncio.sleep(1.5)
        far.ua.hangup()

    started = time.monotonic()
    assert run(voice, far.connector(), call_id, during=phone_hangs_up)[0] == "completed"
    assert time.monotonic() - started < 10
    call, leg = Call.objects.get(pk=call_id), leg_a(call_id)
    assert call.hangup_cause == "remote_hangup"
    assert (leg.status, leg.hangup_by) == ("completed", "remote")
    assert 1 <= leg.duration_seconds <= 4


def test_hang_up_through_the_api(api, app, voice, far, django_capture_on_commit_callbacks):
    call_id = place(api, '<Response><Pause length="30"/></Response>')

    def hang_up():
        call = Call.objects.get(pk=call_id)
        with django_capture_on_commit_callbacks(execute=True):
            call_modify(principal=Scope(call.tenant_id, app.id, call.mode), call_id=call_id, status="completed")

    async def api_hangs_up():
        await in_thread(far.ua.wait_event, "CALL_ESTABLISHED")
        await asyncio.sleep(1)
        await sync_to_async(hang_up)()

    assert run(voice, far.connector(), call_id, during=api_hangs_up)[0] == "completed"
    assert Call.objects.get(pk=call_id).hangup_cause == "api_hangup"
    far.ua.wait_event("CALL_CLOSED")  # the phone got our BYE


@pytest.mark.parametrize(("code", "status", "cause"), [
    (486, "busy", "user_busy"),
    (480, "no-answer", "no_answer"),
    (408, "no-answer", "no_answer"),
    (404, "failed", "unallocated_number"),
    (484, "failed", "invalid_number_format"),
    (503, "failed", "service_unavailable"),
])
def test_sip_codes_become_statuses_and_the_cdr_sip_code(api, voice, far, code, status, cause):
    call_id = place(api, "<Response><Say>Never heard</Say></Response>", to=f"+12025559{code}")
    assert run(voice, far.connector(), call_id) == [status]
    leg = leg_a(call_id)
    assert (leg.status, leg.sip_code, leg.hangup_cause) == (status, code, cause)
    (event,) = Event.objects.filter(data__call_id=call_id, type="call.completed")
    assert event.data["status"] == status


def test_wrong_trunk_password_fails_the_call_with_the_trunk_code(api, voice, far):
    call_id = place(api, "<Response><Say>Never heard</Say></Response>")
    assert run(voice, far.connector(password="wrong"), call_id) == ["failed"]
    assert leg_a(call_id).sip_code == 407
    assert far.ua.received_audio() == []


def test_an_unreachable_trunk_fails_the_call_with_408(api, voice, far):
    call_id = place(api, "<Response><Say>Never heard</Say></Response>")
    dead_port = far.trunk.port + 1 if far.trunk.port < 65535 else 1
    assert run(voice, far.connector(port=dead_port, response_timeout=1.0), call_id) == ["failed"]
    leg = leg_a(call_id)
    assert (leg.status, leg.sip_code, leg.hangup_cause) == ("failed", 408, "trunk_unreachable")
    # A failed call publishes call.failed (with the trunk's SIP code) beside call.completed (decision 1142).
    (event,) = Event.objects.filter(data__call_id=call_id, type="call.completed")
    assert event.data["status"] == "failed"
    (failed,) = Event.objects.filter(data__call_id=call_id, type="call.failed")
    assert (failed.data["status"], failed.data["sip_code"], failed.data["hangup_cause"]) == ("failed", 408,
                                                                                            "trunk_unreachable")
    (cdr,) = Event.objects.filter(data__call_id=call_id, type="call.leg.completed")
    assert cdr.data["sip_code"] == 408


@pytest.mark.phone(auto_answer=False)
def test_ring_timeout_cancels_the_invite(api, voice, far):
    call_id = place(api, "<Response><Say>Never heard</Say></Response>", timeout=5)
    started = time.monotonic()
    assert run(voice, far.connector(), call_id) == ["no-answer"]
    assert 5 <= time.monotonic() - started < 9
    leg = leg_a(call_id)
    assert (leg.sip_code, leg.hangup_cause) == (487, "no_answer")
    far.ua.wait_event("CALL_CLOSED")  # the phone stopped ringing: our CANCEL reached it


def test_gather_collects_rfc4733_digits_from_the_phone(api, voice, far):
    voice.route("https://tenant.example/menu", "<Response><Say>Thank you</Say></Response>")
    call_id = place(api, '<Response><Gather numDigits="3" timeout="5" action="https://tenant.example/menu">'
                         "<Say>Enter your code</Say></Gather></Response>")

    async def phone_presses():
        await in_thread(far.ua.wait_event, "CALL_ESTABLISHED")
        await asyncio.sleep(1.0)
        await in_thread(far.ua.send_dtmf, "472")

    assert run(voice, far.connector(), call_id, during=phone_presses)[0] == "completed"
    (posted,) = voice.posted("https://tenant.example/menu")
    assert posted["digits"] == "472"


def test_gather_also_takes_sip_info_digits(api, voice, far):
    """A phone that sends DTMF as SIP INFO (application/dtmf-relay) in the dialog: sent here by hand,
    as baresip only sends RFC 4733."""
    voice.route("https://tenant.example/menu", "<Response><Say>Thank you</Say></Response>")
    call_id = place(api, '<Response><Gather numDigits="2" timeout="5" action="https://tenant.example/menu">'
                         "<Say>Enter your code</Say></Gather></Response>")
    network = far.connector()

    async def info_digits():
        await in_thread(far.ua.wait_event, "CALL_ESTABLISHED")
        await asyncio.sleep(0.5)
        (leg,) = network._legs.values()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for n, key in enumerate("79"):
                info = (f"INFO sip:cpaas@127.0.0.1:{network.endpoint.port} SIP/2.0\r\n"
                        f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKinfo{n}\r\n"
                        f"From: {leg.dialog.remote}\r\nTo: {leg.dialog.local}\r\nCall-ID: {leg.dialog.call_id}\r\n"
                        f"CSeq: {10 + n} INFO\r\nContent-Type: application/dtmf-relay\r\n"
                        f"Content-Length: 24\r\n\r\nSignal={key}\r\nDuration=160\r\n")
                s.sendto(info.encode(), ("127.0.0.1", network.endpoint.port))

    assert run(voice, network, call_id, during=info_digits)[0] == "completed"
    (posted,) = voice.posted("https://tenant.example/menu")
    assert posted["digits"] == "79"


@pytest.mark.phone(play=None)
def test_pause_keeps_the_line_silent_for_its_length(api, voice, far):
    call_id = place(api, '<Response><Pause length="2"/></Response>')
    started = time.monotonic()
    assert run(voice, far.connector(), call_id) == ["completed"]
    assert 2 <= time.monotonic() - started < 5
    assert wav_rms(far.heard()) < 0.001


def test_record_stores_what_the_phone_says(api, voice, far, tmp_path):
    call_id = place(api, '<Response><Record maxLength="3" timeout="5"/></Response>')
    assert run(voice, far.connector(), call_id) == ["completed"]
    recording = Recording.objects.get(call_id=call_id)
    assert recording.source == "verb" and recording.duration_seconds == 3
    with recordings_storage().open(recording.storage_name) as stored:
        data = stored.read()
    path = tmp_path / "got.wav"
    path.write_bytes(data)
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels()) == (8000, 1)
    assert wav_rms(path) > 0.05  # the phone's 440 Hz tone, not silence


def test_play_fetches_a_wav_through_the_egress_and_the_phone_hears_it(api, voice, far, receiver, tmp_path):
    receiver.bodies["/hold.wav"] = write_tone(tmp_path / "hold.wav", seconds=3, hz=523).read_bytes()
    receiver.answer("/hold.wav", 200, content_type="audio/wav")
    call_id = place(api, f"<Response><Play>{receiver.base}/hold.wav</Play></Response>")
    assert run(voice, far.connector(), call_id) == ["completed"]
    assert [path for path, _, _ in receiver.received] == ["/hold.wav"]
    heard = far.heard()
    assert wav_seconds(heard) > 2.5 and wav_rms(heard) > 0.05


def test_play_of_an_mp3(api, voice, far, receiver, tmp_path):
    wav = write_tone(tmp_path / "hold.wav", seconds=3, hz=523)
    mp3 = tmp_path / "hold.mp3"
    subprocess.run(["sox", str(wav), str(mp3)], check=True, capture_output=True)
    receiver.bodies["/hold.mp3"] = mp3.read_bytes()
    receiver.answer("/hold.mp3", 200, content_type="audio/mpeg")
    call_id = place(api, f"<Response><Play>{receiver.base}/hold.mp3</Play></Response>")
    assert run(voice, far.connector(), call_id) == ["completed"]
    assert wav_rms(far.heard()) > 0.05


@pytest.mark.parametrize(("body", "content_type", "code"), [
    (b"<html>not audio</html>", "text/html", "play_not_audio"),
    (b"RIFF" + bytes(4096), "audio/wav", "play_too_large"),
])
def test_play_of_something_unplayable_continues_the_call_with_call_error(api, voice, far, receiver, body,
                                                                        content_type, code):
    receiver.bodies["/prompt"] = body
    receiver.answer("/prompt", 200, content_type=content_type)
    call_id = place(api, f"<Response><Play>{receiver.base}/prompt</Play><Say>Still here</Say></Response>")
    assert run(voice, far.connector(max_play_bytes=1024), call_id) == ["completed"]
    call = Call.objects.get(pk=call_id)
    assert (call.status, call.hangup_cause, call.error_code) == ("completed", "document_end", code)
    (error,) = Event.objects.filter(data__call_id=call_id, type="call.error")
    assert error.data["code"] == code
    assert wav_rms(far.heard()) > SPEECH_RMS  # the Say after the failed Play was heard


def test_a_callback_call_bridges_two_phones_with_audio_both_ways(api, voice, tmp_path):
    """Party A (a 440 Hz tone) and party B (660 Hz) each hear the other through the bridge."""
    a_number, b_number = "+12025551001", "+12025551002"
    a_tone = write_tone(tmp_path / "a.wav", seconds=30, hz=440)
    b_tone = write_tone(tmp_path / "b.wav", seconds=30, hz=660)
    with baresip_ua(tmp_path / "a", name=a_number[1:], play=a_tone) as a, \
            baresip_ua(tmp_path / "b", name=b_number[1:], play=b_tone) as b, \
            kamailio_trunk(tmp_path / "trunk", target=f"127.0.0.1:{a.sip_port}", users={USER: PASSWORD},
                           routes={b_number[1:]: f"127.0.0.1:{b.sip_port}"}) as trunk:
        response = api.post("/v1/calls/callback", {"party_a": a_number, "party_b": b_number, "caller_id_a": FROM,
                                                   "caller_id_b": a_number}, format="json")
        assert response.status_code == 201, response.json()
        call_id = response.json()["id"]

        async def a_hangs_up():
            await in_thread(b.wait_event, "CALL_ESTABLISHED", 20)
            await asyncio.sleep(3)
            a.hangup()

        assert run(voice, Far(a, trunk).connector(), call_id, during=a_hangs_up)[0] == "completed"
        call = Call.objects.get(pk=call_id)
        assert call.hangup_cause == "party_a_hangup"
        b.wait_event("CALL_CLOSED")
        heard_by_a, heard_by_b = Far(a, trunk).heard(), Far(b, trunk).heard()
    assert dominant_hz(heard_by_b) == pytest.approx(440, abs=15)  # B hears A's tone
    assert dominant_hz(heard_by_a) == pytest.approx(660, abs=15)  # A hears B's


def test_dial_sip_reaches_a_sip_address_through_the_edge_and_bridges(api, voice, tmp_path):
    """<Dial><Sip>: the caller (440 Hz, via the trunk) and alice (660 Hz, via the SIP edge) hear each other."""
    a_tone = write_tone(tmp_path / "a.wav", seconds=30, hz=440)
    b_tone = write_tone(tmp_path / "b.wav", seconds=30, hz=660)
    with baresip_ua(tmp_path / "a", name=PHONE[1:], play=a_tone) as a, \
            baresip_ua(tmp_path / "alice", name="alice", play=b_tone) as alice, \
            kamailio_trunk(tmp_path / "trunk", target=f"127.0.0.1:{a.sip_port}", users={USER: PASSWORD}) as trunk:
        call_id = place(api, '<Response><Dial timeLimit="3"><Sip>sip:alice@pbx.example.com</Sip></Dial></Response>')
        network = Far(a, trunk).connector(edge=f"127.0.0.1:{alice.sip_port}")
        assert run(voice, network, call_id) == ["completed"]
        dial = CallLeg.objects.get(call_id=call_id, role="dial")
        assert (dial.to, dial.status, dial.sip_code, dial.hangup_cause) == ("sip:alice@pbx.example.com", "completed",
                                                                            200, "time_limit")
        alice.wait_event("CALL_CLOSED")
        heard_by_a, heard_by_alice = Far(a, trunk).heard(), Far(alice, trunk).heard()
    assert dominant_hz(heard_by_alice) == pytest.approx(440, abs=15)
    assert dominant_hz(heard_by_a) == pytest.approx(660, abs=15)


def test_dial_reaches_a_phone_registered_at_the_edge_from_any_worker_port(api, voice, transactional_db, tmp_path):
    """A document's <Dial><Sip> to an endpoint registered at the real edge (Kamailio): the voice worker
    sends from an ephemeral port, so the edge trusts it by network plus the X-Cpaas-Trust token (1140)."""
    alice = create_endpoint(api, "alice")
    a_tone = write_tone(tmp_path / "a.wav", seconds=30, hz=440)
    b_tone = write_tone(tmp_path / "b.wav", seconds=30, hz=660)
    with running_edge(tmp_path / "edge", trusted_networks=("127.0.0.1/32",)) as edge, \
            baresip_ua(tmp_path / "a", name=PHONE[1:], play=a_tone) as a, \
            baresip_ua(tmp_path / "alice", name="alice", play=b_tone, registrar=edge.address, username="alice",
                       password=ENDPOINT_PASSWORD, domain=alice["domain"]) as phone, \
            kamailio_trunk(tmp_path / "trunk", target=f"127.0.0.1:{a.sip_port}", users={USER: PASSWORD}) as trunk:
        phone.wait_event("REGISTER_OK")
        call_id = place(api, f'<Response><Dial timeLimit="3"><Sip>{alice["sip_uri"]}</Sip></Dial></Response>')
        secret = trust_secret_from(settings.SECRET_KEY)
        assert run(voice, Far(a, trunk).connector(edge=edge.address, edge_secret=secret), call_id) == ["completed"]
        dial = CallLeg.objects.get(call_id=call_id, role="dial")
        assert (dial.status, dial.sip_code, dial.hangup_cause) == ("completed", 200, "time_limit")
        phone.wait_event("CALL_CLOSED")
        heard_by_a, heard_by_alice = Far(a, trunk).heard(), Far(phone, trunk).heard()
    assert dominant_hz(heard_by_alice) == pytest.approx(440, abs=15)
    assert dominant_hz(heard_by_a) == pytest.approx(660, abs=15)


def test_the_edge_refuses_platform_invites_without_the_trust_token(api, voice, transactional_db, tmp_path):
    """Same network, no (or a wrong) token: the edge treats the INVITE as a phone's, whose From domain
    is none of ours: 403, the phone never rings."""
    alice = create_endpoint(api, "alice")
    with running_edge(tmp_path / "edge", trusted_networks=("127.0.0.1/32",)) as edge, \
            baresip_ua(tmp_path / "a", name=PHONE[1:]) as a, \
            baresip_ua(tmp_path / "alice", name="alice", registrar=edge.address, username="alice",
                       password=ENDPOINT_PASSWORD, domain=alice["domain"]) as phone, \
            kamailio_trunk(tmp_path / "trunk", target=f"127.0.0.1:{a.sip_port}", users={USER: PASSWORD}) as trunk:
        phone.wait_event("REGISTER_OK")
        for secret in ("", "not-the-key"):
            call_id = place(api, f'<Response><Dial timeLimit="3"><Sip>{alice["sip_uri"]}</Sip></Dial></Response>')
            run(voice, Far(a, trunk).connector(edge=edge.address, edge_secret=secret), call_id)
            dial = CallLeg.objects.get(call_id=call_id, role="dial")
            assert (dial.status, dial.sip_code) == ("failed", 403), secret
        assert not [e for e in list(phone.events.queue) if e.get("type") == "CALL_INCOMING"]


ENDPOINT_PASSWORD = "correct-horse-battery"


def create_endpoint(api, username: str, **extra) -> dict:
    response = api.post("/v1/sip/endpoints", {"username": username, "password": ENDPOINT_PASSWORD, **extra},
                        format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def dominant_hz(path: Path) -> float:
    """The pitch of the loudest second of a WAV, by zero crossings (enough for a pure tone)."""
    with wave.open(str(path)) as w:
        samples = array.array("h", w.readframes(w.getnframes()))
    seconds = [samples[i:i + 8000] for i in range(0, len(samples) - 7999, 8000)]
    loudest = max(seconds, key=lambda chunk: sum(abs(x) for x in chunk))
    crossings = sum(1 for x, y in itertools.pairwise(loudest) if (x < 0) != (y < 0))
    return crossings / 2


# --- inbound calls ------------------------------------------------------------------------------

NUMBER = "+12025550199"  # the app's live number
VOICE_URL = "https://tenant.example/inbound"


@pytest.fixture
def live_number(app):
    number = number_assign(app=app, number=NUMBER, connector="sip", capabilities=["voice"])
    number.voice_url = VOICE_URL
    number.save()
    return number


class SlowFetcher(MockFetcher):
    """The tenant's server taking ``delay`` seconds to answer (the caller hears ringing meanwhile)."""

    def __init__(self, handler, delay: float) -> None:
        super().__init__(handler)
        self.delay = delay

    async def post(self, url, body, headers, *, timeout, limit):
        await asyncio.sleep(self.delay)
        return await super().post(url, body, headers, timeout=timeout, limit=limit)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def worker_port() -> int:
    return free_udp_port()


@pytest.fixture
def caller(tmp_path, worker_port):
    """A phone calling in through the carrier's trunk, which sends our numbers to the SIP worker."""
    speech = write_tone(tmp_path / "caller.wav", seconds=20, hz=440)
    with kamailio_trunk(tmp_path / "in-trunk", target=f"127.0.0.1:{worker_port}") as trunk, \
            baresip_ua(tmp_path / "caller", name="caller", play=speech) as ua:
        ua.trunk = trunk
        yield ua


def serve(voice, network: SipVoiceConnector, during, *, delay: float = 0.0):
    """The SIP worker taking calls for ``during()``, until the calls it took are over."""

    async def main():
        http = SlowFetcher(voice._handle, delay) if delay else MockFetcher(voice._handle)
        engine = CallEngine(clock=network.clock, connector_for=lambda mode: network, http=http)
        register_engine(engine, asyncio.get_running_loop())
        network.inbound = engine.inbound
        await network.start()
        try:
            async with asyncio.timeout(60):
                result = await during()
                while engine._inbound_tasks:
                    await asyncio.gather(*list(engine._inbound_tasks))
                return result
        finally:
            await network.close()
            await http.aclose()

    return async_to_sync(main)()


def inbound_connector(port: int) -> SipVoiceConnector:
    return SipVoiceConnector(clock=RealClock(), config=SipConfig.parse({"listen_port": port, "plus": False}))


def test_an_inbound_call_fetches_the_numbers_voice_url_and_the_caller_hears_it(voice, live_number, caller,
                                                                              worker_port):
    voice.route(VOICE_URL, f"<Response><Say>{SPOKEN}</Say></Response>")

    async def call_in():
        caller.dial(f"sip:{NUMBER[1:]}@{caller.trunk.address}")
        await in_thread(caller.wait_event, "CALL_ESTABLISHED", 10)
        await in_thread(caller.wait_event, "CALL_CLOSED", 20)  # the document ended: our BYE

    serve(voice, inbound_connector(worker_port), call_in)
    call = Call.objects.get()
    assert (call.direction, call.to, call.mode) == ("inbound", NUMBER, "live")
    assert call.from_number == "+caller"  # the From user of the phone, as the trunk passed it
    assert (call.status, call.hangup_cause, call.url) == ("completed", "document_end", VOICE_URL)
    leg = leg_a(call.id)
    assert (leg.status, leg.sip_code, leg.hangup_by) == ("completed", 200, "platform")
    assert leg.ringing_at is not None and leg.answered_at >= leg.ringing_at
    (posted,) = voice.posted(VOICE_URL)
    assert (posted["direction"], posted["to"], posted["call_id"]) == ("inbound", NUMBER, call.id)
    heard = Far(caller, caller.trunk).heard()
    assert wav_seconds(heard) > 4.0 and wav_rms(heard) > SPEECH_RMS
    assert types(call.id) == sorted(["call.initiated", "call.ringing", "call.answered", "call.completed",
                                     "call.leg.completed"])


def test_the_fallback_url_answers_when_the_voice_url_fails(voice, live_number, caller, worker_port):
    live_number.voice_fallback_url = "https://tenant.example/fallback"
    live_number.save()
    voice.route(VOICE_URL, httpx.Response(500))
    voice.route("https://tenant.example/fallback", "<Response><Say>Sorry, we are closed.</Say></Response>")

    async def call_in():
        caller.dial(f"sip:{NUMBER[1:]}@{caller.trunk.address}")
        await in_thread(caller.wait_event, "CALL_CLOSED", 20)

    serve(voice, inbound_connector(worker_port), call_in)
    call = Call.objects.get()
    assert (call.status, call.hangup_cause, call.error_code) == ("completed", "document_end", "")
    assert len(voice.posted(VOICE_URL)) == 1 and len(voice.posted("https://tenant.example/fallback")) == 1
    assert wav_rms(Far(caller, caller.trunk).heard()) > SPEECH_RMS


def test_a_call_to_an_unknown_number_gets_404_and_no_call_row(voice, live_number, caller, worker_port):
    async def call_in():
        caller.dial(f"sip:12025550100@{caller.trunk.address}")
        return await in_thread(caller.wait_event, "CALL_CLOSED", 10)

    closed = serve(voice, inbound_connector(worker_port), call_in)
    assert "404" in closed["param"]
    assert not Call.objects.exists()


def test_a_caller_offering_only_unsupported_codecs_gets_488(voice, live_number, tmp_path, worker_port):
    with kamailio_trunk(tmp_path / "in-trunk", target=f"127.0.0.1:{worker_port}") as trunk, \
            baresip_ua(tmp_path / "g722", name="g722", codecs="G722/16000/1", codec_modules=("g722",)) as ua:

        async def call_in():
            ua.dial(f"sip:{NUMBER[1:]}@{trunk.address}")
            return await in_thread(ua.wait_event, "CALL_CLOSED", 10)

        closed = serve(voice, inbound_connector(worker_port), call_in)
    assert "488" in closed["param"]
    assert not Call.objects.exists()


def test_a_caller_who_hangs_up_while_it_rings_cancels_the_call(voice, live_number, caller, worker_port):
    voice.route(VOICE_URL, f"<Response><Say>{SPOKEN}</Say></Response>")

    async def call_in_and_give_up():
        caller.dial(f"sip:{NUMBER[1:]}@{caller.trunk.address}")
        await in_thread(caller.wait_event, "CALL_RINGING", 10)
        await asyncio.sleep(0.5)
        caller.hangup()  # CANCEL: the document is still being fetched (the tenant takes 3 s)
        await in_thread(caller.wait_event, "CALL_CLOSED", 10)

    serve(voice, inbound_connector(worker_port), call_in_and_give_up, delay=3.0)
    call = Call.objects.get()
    assert (call.status, call.hangup_cause) == ("canceled", "originator_cancel")
    leg = leg_a(call.id)
    assert (leg.status, leg.sip_code, leg.hangup_by, leg.answered_at) == ("canceled", 487, "remote", None)
    assert caller.received_audio() == []  # never answered: no media


# --- calls placed by phones registered at the SIP edge (decision 1141) --------------------------

def test_a_registered_phone_calls_a_number_through_the_apps_trunk(live_api, voice, transactional_db, live_number,
                                                                 worker_port, tmp_path):
    """alice (registered at the real edge) dials a number: the edge relays to the SIP worker with
    X-Cpaas-*, the endpoint's app dials the number through the trunk with alice's caller_id, the
    phone behind the trunk answers, and each hears the other."""
    alice = create_endpoint(live_api, "alice", caller_id=NUMBER)  # a live voice number of the app
    a_tone = write_tone(tmp_path / "alice.wav", seconds=30, hz=440)
    b_tone = write_tone(tmp_path / "b.wav", seconds=30, hz=660)
    with running_edge(tmp_path / "edge", worker=("127.0.0.1", worker_port)) as edge, \
            baresip_ua(tmp_path / "alice", name="alice", play=a_tone, registrar=edge.address, username="alice",
                       password=ENDPOINT_PASSWORD, domain=alice["domain"]) as phone, \
            baresip_ua(tmp_path / "b", name=PHONE[1:], play=b_tone) as b, \
            kamailio_trunk(tmp_path / "trunk", target=f"127.0.0.1:{b.sip_port}", users={USER: PASSWORD}) as trunk:
        phone.wait_event("REGISTER_OK")
        network = Far(b, trunk).connector(listen_port=worker_port, edge=edge.address)

        async def alice_calls():
            phone.dial(f"sip:{PHONE}@{alice['domain']}")
            await in_thread(b.wait_event, "CALL_ESTABLISHED", 15)
            await in_thread(phone.wait_event, "CALL_ESTABLISHED", 10)
            await asyncio.sleep(3)
            phone.hangup()
            await in_thread(b.wait_event, "CALL_CLOSED", 10)

        serve(voice, network, alice_calls)
        call = Call.objects.get()
        assert (call.direction, call.to, call.from_number, call.mode) == ("inbound", PHONE, NUMBER, "live")
        assert call.status == "completed"
        dial = CallLeg.objects.get(call_id=call.id, role="dial")
        assert (dial.to, dial.status, dial.sip_code) == (PHONE, "completed", 200)
        heard_by_alice, heard_by_b = Far(phone, trunk).heard(), Far(b, trunk).heard()
    assert dominant_hz(heard_by_b) == pytest.approx(440, abs=15)
    assert dominant_hz(heard_by_alice) == pytest.approx(660, abs=15)


@pytest.mark.parametrize(("endpoint", "reason"), [
    ({"mode": "test"}, "test-mode"),
    ({"mode": "live", "id": "sep_unknown", "app": "app_unknown"}, "no such"),
])
def test_the_worker_refuses_test_mode_and_unknown_endpoints_with_404(db, endpoint, reason):
    refused = endpoint_call_create(endpoint=endpoint, to=PHONE, engine="e")
    assert refused.sip_code == 404 and reason in refused.reason
    assert not Call.objects.exists()


def test_an_endpoint_without_caller_id_is_refused_403(live_api, app):
    alice = create_endpoint(live_api, "alice")
    refused = endpoint_call_create(endpoint={"mode": "live", "id": alice["id"], "app": app.id}, to=PHONE, engine="e")
    assert refused.sip_code == 403 and not Call.objects.exists()
