"""The SIP building blocks on their own: messages, digest, SDP and G.711 (the calls themselves are
tested against real peers in tests/voice/test_engine_sip.py)."""

from __future__ import annotations

import math
from array import array

import pytest

from cpaas.carriers.base import ConfigError
from cpaas.carriers.sip import digest, g711, sdp
from cpaas.carriers.sip.config import SipConfig
from cpaas.carriers.sip.connector import audio_kind, outcome_of
from cpaas.carriers.sip.message import host_port, param, parse, response, uri_of, user_of


def test_a_response_parses_with_compact_and_repeated_headers():
    raw = (b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc;rport=5070\r\n"
           b"Record-Route: <sip:10.0.0.1;lr>, <sip:10.0.0.2;lr>\r\nf: <sip:a@x>;tag=1\r\nt: <sip:b@y>;tag=2\r\n"
           b"i: call-1\r\nCSeq: 2 INVITE\r\nm: <sip:b@10.0.0.9:5062>\r\nl: 4\r\n\r\nbodyEXTRA")
    message = parse(raw)
    assert (message.status, message.call_id, message.cseq, message.branch) == (200, "call-1", (2, "INVITE"),
                                                                                 "z9hG4bKabc")
    assert message.all("record-route") == ["<sip:10.0.0.1;lr>", "<sip:10.0.0.2;lr>"]
    assert message.body == b"body"
    assert param(message.get("to"), "tag") == "2"
    assert (uri_of(message.get("contact")), host_port(uri_of(message.get("contact")))) == \
        ("sip:b@10.0.0.9:5062", ("10.0.0.9", 5062))
    assert user_of("sip:+12025550123@trunk;user=phone") == "+12025550123"


def test_a_response_copies_the_dialog_headers_and_adds_our_tag():
    request = parse(b"INVITE sip:b@y SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\r\n"
                    b"From: <sip:a@x>;tag=9\r\nTo: <sip:b@y>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n")
    reply = parse(response(request, 486, to_tag="t1").encode())
    assert (reply.status, reply.reason, reply.get("to"), reply.cseq) == (486, "Busy Here", "<sip:b@y>;tag=t1",
                                                                         (1, "INVITE"))


def test_digest_answers_the_rfc_2617_example():
    challenge = digest.parse_challenge('Digest realm="testrealm@host.com", qop="auth,auth-int", '
                                       'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
                                       'opaque="5ccc069c403ebaf9f0171e9517f40e41"')
    value = digest.authorization(challenge, method="GET", uri="/dir/index.html", username="Mufasa",
                                 password="Circle Of Life")
    fields = dict(part.strip().split("=", 1) for part in value[len("Digest "):].split(","))
    cnonce, nc = fields["cnonce"].strip('"'), fields["nc"]
    ha1 = digest.hashlib.md5(b"Mufasa:testrealm@host.com:Circle Of Life").hexdigest()
    ha2 = digest.hashlib.md5(b"GET:/dir/index.html").hexdigest()
    expected = digest.hashlib.md5(
        f"{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
    assert fields["response"] == f'"{expected}"' and fields["opaque"] == '"5ccc069c403ebaf9f0171e9517f40e41"'


def test_sdp_picks_the_far_ends_first_codec_we_speak_and_its_dtmf_type():
    offer = (b"v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n"
             b"m=audio 4000 RTP/AVP 9 8 0 96\r\na=rtpmap:9 G722/8000\r\na=rtpmap:8 PCMA/8000\r\n"
             b"a=rtpmap:96 telephone-event/8000\r\n")
    media = sdp.parse(offer, (g711.PCMU, g711.PCMA))
    assert (media.host, media.port, media.payload_type, media.dtmf_payload_type) == ("10.0.0.5", 4000, 8, 96)
    with pytest.raises(sdp.SdpError, match="no common codec"):
        sdp.parse(offer.replace(b" 9 8 0 96", b" 9 96"), (g711.PCMU, g711.PCMA))
    ours = sdp.parse(sdp.offer("127.0.0.1", 5004, (g711.PCMU,)), (g711.PCMU,))
    assert (ours.port, ours.payload_type, ours.dtmf_payload_type) == (5004, 0, sdp.TELEPHONE_EVENT)


@pytest.mark.parametrize("payload_type", [g711.PCMU, g711.PCMA])
def test_g711_round_trips_within_its_quantisation(payload_type):
    samples = array("h", (int(12000 * math.sin(n / 7)) for n in range(800)))
    decoded = g711.decode(g711.encode(samples.tobytes(), payload_type), payload_type)
    assert max(abs(a - b) for a, b in zip(samples, decoded, strict=True)) <= 512
    assert set(g711.decode(g711.SILENCE[payload_type], payload_type)) <= {-8, 0, 8}


def test_sip_codes_map_to_outcomes():
    assert outcome_of(486) == ("busy", "user_busy")
    assert outcome_of(480) == ("no-answer", "no_answer")
    assert outcome_of(404) == ("failed", "unallocated_number")
    assert outcome_of(502) == ("failed", "network_error")
    assert outcome_of(415) == ("failed", "call_rejected")


def test_audio_is_recognised_by_its_bytes():
    assert audio_kind("application/octet-stream", b"RIFF\0\0\0\0WAVEfmt ") == "wav"
    assert audio_kind("audio/mpeg", b"ID3\x04") == "mp3"
    assert audio_kind("text/html", b"\xff\xfb<html>") is None
    assert audio_kind("audio/wav", b"<html>") is None


def test_a_trunk_configuration_is_checked_key_by_key():
    assert SipConfig.parse({"host": "sip.example", "codecs": ["PCMA"]}).payload_types == (g711.PCMA,)
    for bad, param_name in [({"transport": "tls"}, "transport"), ({"codecs": ["G729"]}, "codecs"),
                            ({"caller_id": "header"}, "caller_id"), ({"port": 0}, "port"),
                            ({"hots": "x"}, "hots")]:
        with pytest.raises(ConfigError) as raised:
            SipConfig.parse(bad)
        assert raised.value.param == param_name
