"""The SMPP codec: the bytes of GSM-7, UCS-2 and the concatenation header, and that it writes the
same alphabet the messaging room counts segments with."""

from hypothesis import given
from hypothesis import strategies as st

from cpaas.carriers.base import GSM7, GSM7_CHARACTERS, GSM7_EXTENSION, UCS2
from cpaas.carriers.smpp.codec import decode_payload, encode_part, gsm7_decode, gsm7_encode, udh_concat, udh_split
from cpaas.messaging.encoding import segment

gsm_text = st.text(alphabet=st.sampled_from(sorted(GSM7_CHARACTERS) + list(GSM7_EXTENSION)), max_size=1700)


@given(gsm_text)
def test_gsm7_bytes_round_trip(text):
    assert gsm7_decode(gsm7_encode(text)) == text
    assert decode_payload(encode_part(text, GSM7), 0) == text


@given(st.text(max_size=800))
def test_ucs2_bytes_round_trip(text):
    assert decode_payload(encode_part(text, UCS2), 8) == text


@given(gsm_text)
def test_the_septets_written_are_the_septets_counted(text):
    info = segment(text)
    assert info.encoding == GSM7
    assert len(gsm7_encode(text)) == info.units
    assert b"".join(gsm7_encode(part) for part in info.parts) == gsm7_encode(text)


def test_extension_characters_go_as_escape_and_code():
    assert gsm7_encode("€[") == bytes((0x1B, 0x65, 0x1B, 0x3C))
    assert gsm7_encode("@A") == bytes((0x00, 0x41))


def test_the_concatenation_header_round_trips_and_the_16_bit_form_is_read():
    assert udh_split(udh_concat(300, 3, 2) + b"text") == ((300 & 0xFF, 3, 2), b"text")
    sixteen = bytes((0x06, 0x08, 0x04, 0x01, 0x2C, 0x02, 0x01))
    assert udh_split(sixteen + b"hi") == ((300, 2, 1), b"hi")


def test_a_header_with_an_impossible_index_is_no_part():
    assert udh_split(bytes((0x05, 0x00, 0x03, 7, 2, 3)) + b"x") == (None, b"x")
