"""The SIP test helpers drive real peers: two baresip UAs call each other over loopback with audio
both ways and RFC 4733 DTMF, and a UA registers to a real Kamailio with digest auth.

Skipped, with the reason, where baresip or kamailio is not installed (`make test` installs them).
"""

from __future__ import annotations

import shutil
import time

import pytest

from tests.support import kamailio, sipua
from tests.support.sipua import baresip_ua, wav_rms, wav_seconds, write_speech, write_tone

pytestmark = pytest.mark.sip

needs_baresip = pytest.mark.skipif(
    bool(sipua.missing_binaries()),
    reason=f"{', '.join(sipua.missing_binaries())} not installed (make test installs baresip-core)",
)
needs_tts = pytest.mark.skipif(
    not (shutil.which("espeak-ng") and shutil.which("sox")),
    reason="espeak-ng or sox not installed (make test installs them)",
)
needs_kamailio = pytest.mark.skipif(
    bool(kamailio.missing_binaries()), reason="kamailio not installed (make test installs it)",
)

SILENCE = 0.001  # RMS below this is silence; PCMU's quantisation of digital silence stays far below it
HEARD = 0.05  # RMS above this is the 0.3-amplitude tone (~0.21 RMS) arriving through PCMU


def heard(ua: sipua.SipUA, min_seconds: float = 1.0) -> float:
    """RMS of the one call's audio ``ua`` heard, after checking there is exactly one call of it."""
    recordings = ua.received_audio()
    assert len(recordings) == 1, f"{ua.name} recorded {recordings}"
    assert wav_seconds(recordings[0]) > min_seconds
    return wav_rms(recordings[0])


@needs_baresip
def test_two_uas_call_each_other_with_audio_both_ways(tmp_path):
    a_tone = write_tone(tmp_path / "a.wav", seconds=3, hz=440)
    b_tone = write_tone(tmp_path / "b.wav", seconds=3, hz=660)
    with baresip_ua(tmp_path / "a", name="a", play=a_tone) as a, baresip_ua(tmp_path / "b", name="b", play=b_tone) as b:
        a.dial(b.uri)
        b.wait_event("CALL_ESTABLISHED")
        a.wait_event("CALL_ESTABLISHED")
        a.wait_event("CALL_RTPESTAB")
        b.wait_event("CALL_RTPESTAB")
        time.sleep(2)  # two seconds of audio each way
        a.hangup()
        b.wait_event("CALL_CLOSED")
    assert heard(b) > HEARD
    assert heard(a) > HEARD


@needs_baresip
@needs_tts
def test_speech_rendered_by_espeak_is_heard_at_the_far_end(tmp_path):
    speech = write_speech(tmp_path / "speech.wav", "Your verification code is four two seven.")
    spoken = wav_seconds(speech)
    with baresip_ua(tmp_path / "a", name="a", play=speech) as a, baresip_ua(tmp_path / "b", name="b") as b:
        a.dial(b.uri)
        b.wait_event("CALL_RTPESTAB")
        time.sleep(spoken + 0.5)
        a.hangup()
        b.wait_event("CALL_CLOSED")
    assert heard(b, min_seconds=spoken) > HEARD / 2  # speech has pauses: a lower mean level than a tone


@needs_baresip
def test_dtmf_reaches_the_far_end_and_silence_records_as_silence(tmp_path):
    with baresip_ua(tmp_path / "a", name="a") as a, baresip_ua(tmp_path / "b", name="b") as b:
        a.dial(b.uri)
        a.wait_event("CALL_RTPESTAB")
        b.wait_event("CALL_ESTABLISHED")
        a.send_dtmf("12#")
        digits = [b.wait_event("CALL_DTMF_START")["param"] for _ in range(3)]
        a.hangup()
        b.wait_event("CALL_CLOSED")
    assert digits == ["1", "2", "#"]
    assert heard(b, min_seconds=0.5) < SILENCE  # a played silence: the energy check is not fooled by the codec


@needs_baresip
@needs_kamailio
def test_a_ua_registers_with_digest_auth_and_is_reached_through_the_registrar(tmp_path):
    tone = write_tone(tmp_path / "tone.wav", seconds=3)
    with kamailio.kamailio_registrar(tmp_path / "kamailio", users={"alice": "s3cret"}) as registrar:
        with baresip_ua(tmp_path / "wrong", name="wrong", registrar=registrar.address,
                        username="alice", password="not-it") as wrong:
            failure = wrong.wait_event("REGISTER_FAIL")
        assert "401" in failure["param"] or "403" in failure["param"]

        with baresip_ua(tmp_path / "alice", name="alice", registrar=registrar.address,
                        username="alice", password="s3cret") as alice, \
                baresip_ua(tmp_path / "caller", name="caller", play=tone) as caller:
            alice.wait_event("REGISTER_OK")
            caller.dial(f"sip:alice@{registrar.address}")
            alice.wait_event("CALL_ESTABLISHED")
            caller.wait_event("CALL_RTPESTAB")
            alice.wait_event("CALL_RTPESTAB")
            caller.send_dtmf("9")
            assert alice.wait_event("CALL_DTMF_START")["param"] == "9"
            time.sleep(1.5)  # audio through the proxied call
            caller.hangup()
            alice.wait_event("CALL_CLOSED")
    assert heard(alice) > HEARD
