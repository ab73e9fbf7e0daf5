import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate import Encoding, Segments, segments
from smsgate.encoding import _GSM_BASIC, _GSM_EXTENSION

GSM_BASIC = sorted(_GSM_BASIC)
GSM_EXTENSION = sorted(_GSM_EXTENSION)


def test_the_gsm_tables_have_the_standard_sizes():
    # 128 code points, less the escape that introduces the extension table.
    assert len(_GSM_BASIC) == 127
    assert set("\f^{}\\[~]|€") == _GSM_EXTENSION
    assert not _GSM_BASIC & _GSM_EXTENSION


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Segments(Encoding.GSM7, 0, 1)),
        ("Hello", Segments(Encoding.GSM7, 5, 1)),
        ("a" * 160, Segments(Encoding.GSM7, 160, 1)),
        ("a" * 161, Segments(Encoding.GSM7, 161, 2)),
        ("a" * 306, Segments(Encoding.GSM7, 306, 2)),
        ("a" * 307, Segments(Encoding.GSM7, 307, 3)),
        ("€" * 80, Segments(Encoding.GSM7, 160, 1)),
        ("€" * 81, Segments(Encoding.GSM7, 162, 2)),
        ("[]{}^~\\|", Segments(Encoding.GSM7, 16, 1)),
        ("é" * 160, Segments(Encoding.GSM7, 160, 1)),
        ("ç", Segments(Encoding.UCS2, 1, 1)),  # only the capital Ç is in GSM 03.38
        ("ж" * 70, Segments(Encoding.UCS2, 70, 1)),
        ("ж" * 71, Segments(Encoding.UCS2, 71, 2)),
        ("ж" * 134, Segments(Encoding.UCS2, 134, 2)),
        ("ж" * 135, Segments(Encoding.UCS2, 135, 3)),
        ("👋", Segments(Encoding.UCS2, 2, 1)),
        ("👋" * 35, Segments(Encoding.UCS2, 70, 1)),
        ("€ж", Segments(Encoding.UCS2, 2, 1)),  # in UCS-2 the euro is one unit
    ],
)
def test_segments_counts_encoding_characters_and_parts(text, expected):
    assert segments(text) == expected


def test_an_escape_pair_is_not_split_across_parts():
    # 152 plain septets then '€' (2 septets) would straddle the 153-septet boundary.
    text = "a" * 152 + "€" + "a" * 152
    result = segments(text)
    assert result.characters == 306
    assert result.parts == 3  # a naive ceil(306 / 153) would say 2


def test_a_surrogate_pair_is_not_split_across_parts():
    text = "ж" * 66 + "👋" + "ж" * 66
    result = segments(text)
    assert result.characters == 134
    assert result.parts == 3  # a naive ceil(134 / 67) would say 2


gsm_texts = st.text(alphabet=st.sampled_from(GSM_BASIC + GSM_EXTENSION), max_size=1000)


@given(gsm_texts)
def test_gsm_text_counts_extension_characters_twice(text):
    result = segments(text)
    assert result.encoding is Encoding.GSM7
    assert result.characters == len(text) + sum(c in _GSM_EXTENSION for c in text)


@given(st.text(max_size=1000))
def test_any_character_outside_gsm_makes_the_text_ucs2(text):
    outside = any(c not in _GSM_BASIC and c not in _GSM_EXTENSION for c in text)
    result = segments(text)
    assert (result.encoding is Encoding.UCS2) is outside
    if outside:
        assert result.characters == len(text.encode("utf-16-le")) // 2


@given(st.text(max_size=1500))
def test_parts_hold_the_text_and_are_as_few_as_possible(text):
    result = segments(text)
    single, part = (160, 153) if result.encoding is Encoding.GSM7 else (70, 67)
    if result.characters <= single:
        assert result.parts == 1
    else:
        # Every part but the last is at least part-1 full (a two-unit character can leave
        # one unit empty), and the parts hold all of the text.
        assert math.ceil(result.characters / part) <= result.parts
        assert result.parts <= math.ceil(result.characters / (part - 1))


@given(st.text(max_size=400), st.text(max_size=400))
def test_adding_text_never_needs_fewer_parts(head, tail):
    assert segments(head + tail).parts >= segments(head).parts
