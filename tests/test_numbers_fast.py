"""normalize_number's fast path (smsgate._e164) against phonenumbers alone
(`_normalize_slowly`): the same E.164 answer, or the same refusal with the same message,
for numbers of every calling code and every region, written every way."""

from __future__ import annotations

import random
from typing import Any

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate import numbers
from smsgate._e164 import e164_or_none
from smsgate.errors import ValidationError

CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
DIGITS = "0123456789"
# Punctuation normalize_number allows, and characters it refuses or phonenumbers reads
# otherwise: white space other than a space, full-width and Arabic-Indic digits, letters.
PUNCTUATION = " -.()/"
OTHER_DIGITS = [
    "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19",  # full-width
    "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669",  # Arabic-Indic
    "\u06f0\u06f1\u06f2\u06f3\u06f4\u06f5\u06f6\u06f7\u06f8\u06f9",  # Eastern Arabic-Indic
    "\u0966\u0967\u0968\u0969\u096a\u096b\u096c\u096d\u096e\u096f",  # Devanagari
]
ODD = ["\t", "\n", "\u00a0", "\u2009", "\u3000", "+", "\uff0b", "x", "#", ";", ",", "*", "~"]
# Regions as callers may give them: supported codes, lower case, unknown, or none.
GIVEN_REGIONS = st.one_of(
    st.sampled_from(REGIONS),
    st.sampled_from(REGIONS).map(str.lower),
    st.sampled_from(["XX", "001", "", "UK", "G"]),
    st.none(),
)


def outcome(read: Any, number: Any, region: Any) -> tuple[str, ...]:
    try:
        return ("e164", read(number, region))
    except ValidationError as exc:
        return ("refused", exc.field, exc.problem, exc.rule)


def assert_agree(number: Any, region: Any) -> bool:
    """Both paths give the same outcome for ``number``; whether the fast path answered."""
    fast = outcome(numbers.normalize_number, number, region)
    slow = outcome(numbers._normalize_slowly, number, region)
    assert fast == slow, (number, region)
    answered = (
        isinstance(number, str)
        and (region is None or region in phonenumbers.SUPPORTED_REGIONS)
        and e164_or_none(number.strip(), region) is not None
    )
    if answered:
        assert slow[0] == "e164"
    return answered


def national_prefixes(region: str) -> list[str]:
    """What a national number of ``region`` may start with before its digits."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    assert metadata is not None
    starts = {
        "",
        "0",
        "1",
        "00",
        "011",
        str(metadata.country_code),
        metadata.national_prefix or "",
        metadata.international_prefix or "",
        metadata.preferred_international_prefix or "",
    }
    return sorted(starts)


def example_numbers() -> list[tuple[str, str]]:
    """phonenumbers' example number of every type of every region, in every format."""
    formats = [
        phonenumbers.PhoneNumberFormat.E164,
        phonenumbers.PhoneNumberFormat.INTERNATIONAL,
        phonenumbers.PhoneNumberFormat.NATIONAL,
        phonenumbers.PhoneNumberFormat.RFC3966,
    ]
    found = []
    for region in REGIONS:
        for kind in phonenumbers.PhoneNumberType.values():
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                found += [(phonenumbers.format_number(example, f), region) for f in formats]
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            found += [(phonenumbers.format_number(example, f), "001") for f in formats]
    return sorted(set(found))


EXAMPLES = example_numbers()


# Each example draws a seed for what is random about how its number is written, rather than
# drawing every choice, so that thousands of examples take a few seconds; a failure names the
# number written.
SEEDS = st.integers(0, 2**32 - 1)


def write(rng: random.Random, number: str) -> str:
    """``number`` as someone might write it: punctuation anywhere, white space around,
    now and then other digits, another + or a character normalize_number refuses."""
    chars = list(number)
    for _ in range(rng.choice([0, 0, 1, 2, 3, 4])):
        chars.insert(rng.randint(0, len(chars)), rng.choice(PUNCTUATION) * rng.randint(1, 2))
    if rng.random() < 0.1:  # another alphabet's digits, for some or all
        alphabet, every = rng.choice(OTHER_DIGITS), rng.random() < 0.5
        chars = [
            alphabet[int(c)] if c in DIGITS and (every or rng.random() < 0.5) else c for c in chars
        ]
    if rng.random() < 0.1:  # something odd somewhere
        chars.insert(rng.randint(0, len(chars)), rng.choice(ODD))
    around = ["", "", "", " ", "  ", "\t", "\n", "\u00a0", "\u3000"]
    return rng.choice(around) + "".join(chars) + rng.choice(around)


@settings(max_examples=1500, deadline=None)
@given(
    code=st.sampled_from(CODES),
    digits=st.text(DIGITS, max_size=17),
    seed=SEEDS,
    region=GIVEN_REGIONS,
)
def test_international_numbers_of_every_calling_code_read_alike(code, digits, seed, region):
    rng = random.Random(seed)
    plus = rng.choice(["+", "+", "+", "+", "++", "", "\uff0b"])
    middle = rng.choice(["", "", "", "0", "1", "00", "+"])  # a national prefix, or odd
    assert_agree(write(rng, f"{plus}{code}{middle}{digits}"), region)


@settings(max_examples=1500, deadline=None)
@given(region=st.sampled_from(REGIONS), digits=st.text(DIGITS, max_size=17), seed=SEEDS)
def test_national_numbers_of_every_region_read_alike(region, digits, seed):
    rng = random.Random(seed)
    start = rng.choice(national_prefixes(region))
    assert_agree(write(rng, start + digits), region)


@settings(max_examples=1000, deadline=None)
@given(example=st.sampled_from(EXAMPLES), seed=SEEDS, other_region=GIVEN_REGIONS)
def test_example_numbers_written_and_changed_every_way_read_alike(example, seed, other_region):
    """An example number, perhaps with a digit changed, added or taken away, perhaps read
    in another region than its own."""
    rng = random.Random(seed)
    number, region = example
    places = [i for i, c in enumerate(number) if c in DIGITS]
    change = rng.choice(["none", "none", "digit", "add", "drop"])
    if places and change != "none":
        where, digit = rng.choice(places), rng.choice(DIGITS)
        if change == "digit":
            number = number[:where] + digit + number[where + 1 :]
        elif change == "add":
            number = number[:where] + digit + number[where:]
        else:
            number = number[:where] + number[where + 1 :]
    assert_agree(write(rng, number), region if rng.random() < 0.7 else other_region)


@settings(max_examples=1000, deadline=None)
@given(
    number=st.text(
        st.sampled_from([*DIGITS, *PUNCTUATION, "+", *ODD, *OTHER_DIGITS[0][:3]]), max_size=30
    ),
    region=GIVEN_REGIONS,
)
def test_any_string_of_number_characters_reads_alike(number, region):
    assert_agree(number, region)


def test_every_calling_code_at_every_length_reads_alike():
    rng = random.Random(164)
    answered = 0
    for code in CODES:
        for length in range(18):
            digits = "".join(rng.choice(DIGITS) for _ in range(length))
            for number in (f"+{code}{digits}", f"+{code} 0{digits}", f"+{code}-1{digits}"):
                answered += assert_agree(number, None)
            answered += assert_agree(f"+{code}{digits}", rng.choice(REGIONS))
    # A number of each possible length of each code, at least, is answered fast.
    assert answered > 1500


def test_every_region_at_every_length_reads_alike():
    rng = random.Random(44)
    answered = 0
    for region in REGIONS:
        for length in range(1, 18):
            digits = "".join(rng.choice(DIGITS) for _ in range(length))
            for start in national_prefixes(region):
                answered += assert_agree(start + digits, region)
    assert answered > 1500


def test_every_example_number_reads_alike_and_nearly_all_fast():
    answered = [
        assert_agree(number, None if region == "001" else region) for number, region in EXAMPLES
    ]
    # Written in E.164, internationally or nationally, nearly all are answered without
    # phonenumbers' parser; in RFC 3966 ("tel:+44-..."), none is (normalize_number refuses
    # them).
    written = [
        fast for fast, (number, _) in zip(answered, EXAMPLES, strict=True) if "tel:" not in number
    ]
    assert sum(written) > 0.95 * len(written)
    assert sum(answered) == sum(written)


@pytest.mark.parametrize(
    ("number", "region"),
    [
        (447700900123, None),
        (None, "GB"),
        ("+447700900123", 44),
        ("+447700900123", "gb"),
        ("+447700900123", "XX"),
        ("07700 900123", None),
        ("", "GB"),
        ("+", None),
        ("+44", None),
        ("+44 7700 9001", None),
        ("+44 7700 900123 4567", None),
        ("+44 (0) 7700 900123", None),
        ("+44 07700 900123", None),
        ("0044 7700 900123", "GB"),
        ("447700900123", "GB"),
        ("+1 1 415 555 2671", None),
        ("+39 06 1234 5678", None),
        ("06 1234 5678", "IT"),
        ("+800 1234 5678", None),
        ("+7 700 123 4567", "KZ"),
        ("(0161) 496 0000", "GB"),
        ("+44\t7700 900123", None),
        ("+44 7700 900123 ", "GB"),
        ("+44 7700 ٩٠٠١٢٣", None),
        ("+44" + " " * 240 + "7700900123", None),  # more than phonenumbers reads
        ("(" * 240 + "07700 900123", "GB"),
    ],
)
def test_corner_cases_read_alike(number, region):
    assert_agree(number, region)


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The numbers ``phonenumbers.parse`` is asked to read from now on, in order."""
    calls: list[str] = []
    parse = phonenumbers.parse

    def counted(*args: Any, **kwargs: Any) -> phonenumbers.PhoneNumber:
        calls.append(args[0])
        return parse(*args, **kwargs)

    monkeypatch.setattr(phonenumbers, "parse", counted)
    return calls


@pytest.mark.parametrize(
    ("number", "region", "e164"),
    [
        ("+447700900123", None, "+447700900123"),
        ("+44 7700 900123", "FR", "+447700900123"),
        ("+33612345678", None, "+33612345678"),
        ("+33 6 12 34 56 78", None, "+33612345678"),
        ("+14155552671", None, "+14155552671"),
        ("+1 (415) 555-2671", None, "+14155552671"),
        ("+49 151 23456789", None, "+4915123456789"),
        ("07700 900123", "GB", "+447700900123"),
        (" 07700-900-123 ", "GB", "+447700900123"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("+44 07700 900123", None, "+447700900123"),
    ],
)
def test_ordinary_numbers_are_read_without_phonenumbers_parser(parsed, number, region, e164):
    assert numbers.normalize_number(number, region) == e164
    assert parsed == []
    # ...and the count does count: the slow path parses it.
    assert numbers._normalize_slowly(number, region) == e164
    assert parsed == [number.strip()]


def test_numbers_phonenumbers_refuses_are_still_refused_by_it(parsed):
    with pytest.raises(
        ValidationError, match="cannot be a phone number: it can only be dialled locally"
    ):
        numbers.normalize_number("+44 7700 9001")
    assert parsed == ["+44 7700 9001"]
