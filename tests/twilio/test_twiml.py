"""TwiML read into our call-control document: what is honoured, dropped, defaulted and refused."""

from __future__ import annotations

import pytest

from cpaas.twilio.twiml import parse_twiml
from cpaas.voice.document import DocumentError

BASE = "https://tenant.example/voice"


def verbs(source: str, base_url: str | None = BASE):
    return [(v.name, v.attrs, v.text) for v in parse_twiml(source, base_url).verbs]


def test_the_verbs_twilio_and_we_share_read_as_ours():
    assert verbs('<?xml version="1.0"?><Response><Say voice="alice" language="en-GB" loop="2">Hi</Say>'
                 '<Play loop="0">https://tenant.example/a.wav</Play><Pause length="3"/>'
                 '<Redirect method="POST">next</Redirect><Hangup/></Response>') == [
        ("Say", {"language": "en-GB", "loop": 2}, "Hi"),
        ("Play", {"loop": 100}, "https://tenant.example/a.wav"),
        ("Pause", {"length": 3}, ""),
        ("Redirect", {"method": "POST"}, "https://tenant.example/next"),
        ("Hangup", {}, ""),
    ]


def test_gather_and_record_without_action_post_back_to_the_document_s_url():
    (gather, record) = parse_twiml('<Response><Gather input="dtmf" numDigits="4" finishOnKey="*" timeout="7" '
                                   'actionOnEmptyResult="true"><Say>Code?</Say></Gather>'
                                   '<Record maxLength="30" playBeep="false"/></Response>', BASE).verbs
    assert gather.attrs == {"numDigits": 4, "finishOnKey": "*", "timeout": 7, "action": BASE}
    assert [child.name for child in gather.children] == ["Say"]
    assert record.attrs == {"maxLength": 30, "playBeep": False, "action": BASE}
    # Inline TwiML has no URL of its own: the call simply goes on, as Twilio's does.
    assert parse_twiml("<Response><Gather/></Response>").verbs[0].attrs == {}


def test_dial_reads_number_nouns_callerid_and_twilio_s_record_values():
    (dial,) = parse_twiml('<Response><Dial callerId="+15005559001" timeout="15" timeLimit="60" action="/done" '
                          'record="record-from-answer-dual" hangupOnStar="true">'
                          '<Number sendDigits="1" url="/whisper">+12025550123</Number></Dial></Response>', BASE).verbs
    assert (dial.text, dial.attrs) == ("+12025550123", {"callerId": "+15005559001", "timeout": 15, "timeLimit": 60,
                                                        "action": "https://tenant.example/done", "record": True})
    assert parse_twiml("<Response><Dial>+12025550123</Dial><Reject reason=\"busy\"/></Response>").verbs[1].attrs == {
        "reason": "busy"}


def test_dial_sip_dials_the_sip_address_and_drops_twilio_s_credentials():
    (dial,) = parse_twiml('<Response><Dial callerId="+15005559001"><Sip username="u" password="p">'
                          "sip:alice@01hx.sip.example.com</Sip></Dial></Response>", BASE).verbs
    # as with <Number>, the one target becomes the <Dial>'s own (our documents' form)
    assert (dial.attrs, dial.text) == ({"callerId": "+15005559001"}, "sip:alice@01hx.sip.example.com")


@pytest.mark.parametrize(("source", "reason"), [
    ('<Response><Gather input="speech"/></Response>', "speech recognition is not supported"),
    ('<Response><Gather input="dtmf speech"/></Response>', "speech recognition is not supported"),
    ("<Response><Dial><Sip>tel:+12025550123</Sip></Dial></Response>", "SIP address"),
    ("<Response><Dial><Conference>room</Conference></Dial></Response>", "<Dial><Conference> is not supported"),
    ("<Response><Enqueue>support</Enqueue></Response>", "<Enqueue> is not supported"),
    ("<Response><Say>unclosed</Response>", "not well-formed XML"),
    ("<Response><Pause length=\"forever\"/></Response>", "attribute `length` on <Pause>"),
    ("<Response><Dial>12345</Dial></Response>", "E.164"),
    ('<!DOCTYPE r [<!ENTITY x "y">]><Response/>', "forbidden XML construct"),
])
def test_what_cannot_run_is_a_document_error_with_its_reason(source, reason):
    with pytest.raises(DocumentError) as caught:
        parse_twiml(source, BASE)
    assert reason in str(caught.value)
