"""Numbers as providers write them in their answers, read back into E.164."""

import pytest

from smsgate.numbers import read_number


@pytest.mark.parametrize(
    ("written", "region", "e164"),
    [
        ("+447700900123", None, "+447700900123"),
        ("447700900123", None, "+447700900123"),
        (447700900123, None, "+447700900123"),
        (" 33612345678 ", None, "+33612345678"),
        ("07700900123", "GB", "+447700900123"),
        ("0612345678", "FR", "+33612345678"),
    ],
)
def test_a_number_a_provider_wrote_is_read_in_e164(written, region, e164):
    assert read_number(written, region) == e164


@pytest.mark.parametrize(
    ("written", "region"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        (True, None),
        (4.47700900123e11, None),
        (["447700900123"], None),
        ("n/a", None),
        ("07700900123", None),  # national, and no region to read it in
        ("12", None),
    ],
)
def test_anything_that_is_not_a_number_reads_as_none_never_an_error(written, region):
    assert read_number(written, region) is None


def test_numbers_read_again_are_remembered_and_read_the_same():
    for _ in range(2):
        assert read_number("447700900123") == "+447700900123"
        assert read_number("07700900123", "GB") == "+447700900123"
        assert read_number("07700900123") is None  # the region is part of what is remembered
        assert read_number("+44 (0) 7700 - 900 - 123 . . . . . . . .") == "+447700900123"
        assert read_number("4" * 40) is None  # too long to be remembered, or a number
        assert read_number("+44 7700 900123" + " " * 40) == "+447700900123"  # stripped first
