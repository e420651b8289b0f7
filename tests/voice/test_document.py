"""Call-control documents: every verb parses, errors name the line and the reason, XML attacks fail."""

from __future__ import annotations

import pytest

from cpaas.voice.document import DocumentError, parse_document
from cpaas_sdk.voice import VoiceResponse


def only(xml: str):
    [verb] = parse_document(f"<Response>{xml}</Response>", base_url="https://t.example/app/doc").verbs
    return verb


def test_say_takes_text_voice_language_and_loop():
    verb = only('<Say voice="woman" language="en-GB" loop="2">Hello</Say>')
    assert (verb.name, verb.text, verb.attrs) == ("Say", "Hello", {"voice": "woman", "language": "en-GB", "loop": 2})


def test_play_takes_a_url():
    assert only("<Play>https://cdn.example/a.wav</Play>").text == "https://cdn.example/a.wav"


def test_pause_takes_a_length():
    assert only('<Pause length="3"/>').attrs == {"length": 3}


def test_gather_takes_digits_options_and_nested_prompts():
    verb = only('<Gather numDigits="4" timeout="9" finishOnKey="*" action="next"><Say>Code?</Say>'
                '<Play>https://cdn.example/b.wav</Play><Pause/></Gather>')
    assert verb.attrs == {"numDigits": 4, "timeout": 9, "finishOnKey": "*", "action": "https://t.example/app/next"}
    assert [child.name for child in verb.children] == ["Say", "Play", "Pause"]


def test_dial_takes_a_number_as_text_or_number_element():
    assert only('<Dial callerId="+15005559000" timeout="10" timeLimit="60" record="true">+12025550123</Dial>').attrs \
        == {"callerId": "+15005559000", "timeout": 10, "timeLimit": 60, "record": True}
    assert only("<Dial><Number>+12025550123</Number></Dial>").text == "+12025550123"


def test_record_redirect_hangup_and_reject_parse():
    assert only('<Record maxLength="60" timeout="3" playBeep="false" action="/r"/>').attrs["action"] == \
        "https://t.example/r"
    assert only("<Redirect>https://t.example/other</Redirect>").text == "https://t.example/other"
    assert only("<Hangup/>").name == "Hangup"
    assert only('<Reject reason="busy"/>').attrs == {"reason": "busy"}


@pytest.mark.parametrize("xml, line, reason", [
    ("<Response>\n<Say>Hi</Response>", 2, "not well-formed XML: mismatched tag"),
    ("<Speak/>", 1, "the root element must be <Response>"),
    ("<Response>\n\n<Dance/></Response>", 3, "unknown verb <Dance>"),
    ('<Response>\n<Say colour="red">x</Say></Response>', 2, "unknown attribute `colour` on <Say>"),
    ('<Response><Pause length="0"/></Response>', 1, "attribute `length` on <Pause> must be an integer from 1 to 600"),
    ('<Response><Pause length="x"/></Response>', 1, "attribute `length` on <Pause> invalid literal for int() "
                                                     "with base 10: 'x'"),
    ("<Response><Say/></Response>", 1, "<Say> needs text"),
    ("<Response><Hangup>now</Hangup></Response>", 1, "<Hangup> does not take text"),
    ("<Response><Gather><Dial>+12025550123</Dial></Gather></Response>", 1, "<Dial> is not allowed inside <Gather>"),
    ("<Response><Number>+12025550123</Number></Response>", 1, "<Number> is not allowed directly in <Response>"),
    ("<Response><Dial>12345</Dial></Response>", 1, "the text of <Dial> must be a phone number in E.164 format"),
    ("<Response><Dial/></Response>", 1, "<Dial> needs one number, as its text or one <Number> or <Sip>"),
    ("<Response><Play>ftp://x/y</Play></Response>", 1, "the text of <Play> must be an http or https URL"),
    ('<Response><Gather finishOnKey="ab"/></Response>', 1, "attribute `finishOnKey` on <Gather> must be one of "
                                                          "0-9, #, * or empty"),
    ("<Response><Redirect>/relative</Redirect></Response>", 1, "<Redirect> needs an absolute URL in inline "
                                                               "instructions"),
])
def test_invalid_documents_name_the_line_and_reason(xml, line, reason):
    with pytest.raises(DocumentError) as caught:
        parse_document(xml)
    assert (caught.value.line, caught.value.reason) == (line, reason)


def test_entities_and_dtds_are_refused():
    bomb = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>'
            "<Response><Say>&b;</Say></Response>")
    with pytest.raises(DocumentError, match="forbidden XML construct"):
        parse_document(bomb)
    external = '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><Response><Say>&x;</Say></Response>'
    with pytest.raises(DocumentError, match="forbidden XML construct"):
        parse_document(external)


def test_documents_over_the_size_limit_are_refused(settings):
    huge = "<Response>" + "<Pause/>" * 10_000 + "</Response>"
    with pytest.raises(DocumentError, match="larger than"):
        parse_document(huge)


def test_an_empty_response_is_valid_and_empty_input_is_not():
    assert parse_document("<Response/>").verbs == []
    with pytest.raises(DocumentError, match="empty"):
        parse_document("  ")


def test_the_builder_writes_documents_that_parse_back():
    doc = VoiceResponse()
    doc.say("Welcome", voice="woman", language="en-US")
    with doc.gather(num_digits=1, finish_on_key="#", action="https://t.example/menu", timeout=5) as menu:
        menu.say("Press 1").play("https://cdn.example/m.wav").pause(1)
    doc.dial("+12025550123", caller_id="+15005559000", time_limit=60, record=True)
    doc.record(max_length=30, play_beep=False).redirect("https://t.example/next").reject(reason="busy").hangup()
    parsed = parse_document(str(doc))
    assert [verb.name for verb in parsed.verbs] == ["Say", "Gather", "Dial", "Record", "Redirect", "Reject", "Hangup"]
    assert parsed.verbs[1].attrs == {"numDigits": 1, "finishOnKey": "#", "action": "https://t.example/menu",
                                     "timeout": 5}
    assert parsed.verbs[2].attrs["record"] is True and parsed.verbs[3].attrs["playBeep"] is False


def test_the_builder_escapes_text():
    doc = VoiceResponse().say("Tom & Jerry <3")
    assert parse_document(doc.to_xml()).verbs[0].text == "Tom & Jerry <3"


def test_dial_takes_a_sip_address():
    (dial,) = parse_document("<Response><Dial><Sip> sip:alice@pbx.example.com </Sip></Dial></Response>").verbs
    assert (dial.name, dial.text) == ("Dial", "sip:alice@pbx.example.com")
    for bad in ("alice@pbx.example.com", "sip:pbx.example.com", "sip:a b@x", "sip:a@x;transport=tcp"):
        with pytest.raises(DocumentError, match="must be a SIP address"):
            parse_document(f"<Response><Dial><Sip>{bad}</Sip></Dial></Response>")
