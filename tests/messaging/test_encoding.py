from hypothesis import given
from hypothesis import strategies as st

from cpaas.carriers.base import GSM7, GSM7_CHARACTERS, GSM7_EXTENSION, UCS2
from cpaas.messaging.encoding import segment, septets, smart_encode

BASIC = sorted(GSM7_CHARACTERS)
gsm_text = st.text(alphabet=st.sampled_from(BASIC + list(GSM7_EXTENSION)), max_size=1700)
any_text = st.text(max_size=800)


def test_it_counts_160_gsm7_characters_as_one_segment():
    assert segment("a" * 160).segments == 1
    assert segment("a" * 161).segments == 2
    assert segment("a" * 306).segments == 2
    assert segment("a" * 307).segments == 3


def test_it_counts_extension_characters_as_two_septets():
    info = segment("€" * 80)
    assert (info.encoding, info.units, info.segments) == (GSM7, 160, 1)
    assert segment("€" * 81).segments == 2


def test_it_never_splits_an_escape_sequence_between_segments():
    info = segment("a" * 152 + "€" + "b" * 10)
    assert info.parts[0] == "a" * 152
    assert info.parts[1].startswith("€")


def test_it_counts_ucs2_at_70_and_67():
    assert segment("я" * 70).segments == 1
    assert segment("я" * 71).segments == 2
    assert segment("я" * 134).segments == 2
    assert segment("я" * 135).segments == 3


def test_it_counts_a_surrogate_pair_as_two_units_and_never_splits_it():
    assert segment("😀" * 35).segments == 1
    info = segment("a" * 66 + "😀" + "bbb")
    assert info.encoding == UCS2
    assert info.parts[0] == "a" * 66
    assert info.parts[1].startswith("😀")


def test_it_reports_the_characters_that_forced_ucs2():
    info = segment("Hello “world” ok")
    assert info.encoding == UCS2
    assert info.ucs2_characters == ("“", "”")


def test_smart_encoding_keeps_typographic_text_in_gsm7():
    info = segment("It\u2019s \u201cgreat\u201d \u2014 really\u2026\u00a0ok", smart_encoding=True)
    assert info.encoding == GSM7
    assert info.body == "It's \"great\" - really... ok"


def test_smart_encoding_leaves_real_unicode_alone():
    assert segment("Привет “x”", smart_encoding=True).encoding == UCS2


@given(gsm_text)
def test_gsm7_parts_rejoin_fit_and_cost_what_the_count_says(text):
    info = segment(text)
    assert info.encoding == GSM7
    assert "".join(info.parts) == text
    costs = [sum(septets(c) for c in part) for part in info.parts]
    assert sum(costs) == info.units
    limit = 160 if len(info.parts) <= 1 else 153
    assert all(cost <= limit for cost in costs)
    assert info.segments == max(1, len(info.parts))
    # greedy: every part but the last was too full to take the next character
    for part, nxt in zip(info.parts, info.parts[1:], strict=False):
        assert sum(septets(c) for c in part) + septets(nxt[0]) > 153


@given(any_text)
def test_any_text_splits_without_breaking_characters(text):
    info = segment(text)
    assert "".join(info.parts) == text
    if info.encoding == UCS2:
        units = [len(part.encode("utf-16-be")) // 2 for part in info.parts]
        limit = 70 if len(info.parts) <= 1 else 67
        assert all(u <= limit for u in units)
        assert sum(units) == info.units
        assert set(info.ucs2_characters) <= set(text)
        assert info.ucs2_characters
    else:
        assert not info.ucs2_characters


@given(any_text)
def test_smart_encoding_never_makes_a_message_longer_in_segments_or_changes_gsm7_text(text):
    plain, smart = segment(text), segment(text, smart_encoding=True)
    if plain.encoding == GSM7:
        assert smart.body == text
    assert smart.segments <= plain.segments or smart.encoding == GSM7
    assert smart_encode(smart.body) == smart.body or smart.encoding == UCS2


@given(st.text(alphabet=st.sampled_from(BASIC), max_size=1700))
def test_the_basic_table_fast_path_agrees_with_the_general_split(text):
    from cpaas.messaging.encoding import MULTI_GSM7, SINGLE_GSM7, _split

    info = segment(text)
    units, parts = _split(text, lambda char: 1, SINGLE_GSM7, MULTI_GSM7)
    assert (info.units, info.parts) == (units, parts)
