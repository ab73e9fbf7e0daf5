"""What `--at` takes (of `smsgate schedule` and `smsgate bulk`): a date and a time with an
offset or a time zone's name, each form of it; and what it refuses, each in one line saying
what to type: a date without a time whatever follows it, a time without a zone, a time the
clocks skip or show twice, a zone named by an abbreviation, a time in the past."""

import json
from datetime import UTC, datetime

import pytest

from smsgate.cli._common import ABBREVIATED_ZONES, OK, USAGE
from tests.support.cli import run

UK = "+447700900123"


pytestmark = pytest.mark.usefixtures("no_smsgate_environment")


def scheduled_at(capsys, at):
    """When `smsgate schedule --at AT` schedules a message, through the fake provider."""
    code, out, err = run(capsys, "--json", "-p", "fake", "schedule", UK, "Hi", "--at", at)
    assert (code, err) == (OK, "")
    return datetime.fromisoformat(json.loads(out)["scheduled_at"])


def refusal(capsys, at, command=("schedule", UK, "Hi")):
    """The one line `--at AT` is refused with (after ``smsgate: error: --at: ``)."""
    code, out, err = run(capsys, "-p", "fake", *command, "--at", at)
    assert (code, out) == (USAGE, "")
    assert err.startswith("smsgate: error: --at: ")
    assert len(err.splitlines()) == 1
    assert err.endswith("\n")
    return err.removeprefix("smsgate: error: --at: ").removesuffix("\n")


# --- the forms it takes --------------------------------------------------------------------


@pytest.mark.parametrize(
    "at",
    [
        # DATE T TIME OFFSET
        "2099-12-24T09:00Z",
        "2099-12-24T09:00+00:00",
        "2099-12-24T10:00+01:00",
        "2099-12-24T04:00-05:00",
        "2099-12-24T10:00+0100",
        "2099-12-24T10+01",
        "2099-12-24T10:00:00.000+01:00",
        "2099-12-24t09:00Z",
        "20991224T1000+0100",
        "2099-W52-4T09:00Z",
        # a space for the T, or before the offset
        "2099-12-24 09:00Z",
        "2099-12-24 10:00+01:00",
        "2099-12-24 09:00 +00:00",
        "2099-12-24 04:00 -05:00",
        "2099-12-24T09:00 Z",
        # DATE TIME ZONE
        "2099-12-24 09:00 Europe/London",
        "2099-12-24T09:00 Europe/London",
        "2099-12-24 10:00 Europe/Paris",
        "2099-12-24 04:00 America/New_York",
        "2099-12-24 09:00 UTC",
        "2099-12-24 09:00 Etc/UTC",
        "  2099-12-24   09:00   Europe/London ",
    ],
)
def test_at_takes_an_offset_or_a_zone(capsys, at):
    assert scheduled_at(capsys, at) == datetime(2099, 12, 24, 9, tzinfo=UTC)


# --- a date without a time -----------------------------------------------------------------

BARE_DATE = "has no time: give a time and its offset or zone, such as"


@pytest.mark.parametrize(
    ("at", "line"),
    [
        (
            "2099-12-24",
            f'2099-12-24 {BARE_DATE} 2099-12-24T09:00+01:00 or "2099-12-24 09:00 Europe/London"',
        ),
        (
            "20991224",
            f'20991224 {BARE_DATE} 20991224T09:00+01:00 or "20991224 09:00 Europe/London"',
        ),
        (
            "2099-W52-4",
            f'2099-W52-4 {BARE_DATE} 2099-W52-4T09:00+01:00 or "2099-W52-4 09:00 Europe/London"',
        ),
        (
            "2099-12-24T",
            f'2099-12-24T {BARE_DATE} 2099-12-24T09:00+01:00 or "2099-12-24 09:00 Europe/London"',
        ),
        (
            "2099-12-24 Europe/London",
            '2099-12-24 Europe/London has no time: give one, such as "2099-12-24 09:00 '
            'Europe/London"',
        ),
        (
            "2099-12-24T Europe/London",
            '2099-12-24T Europe/London has no time: give one, such as "2099-12-24 09:00 '
            'Europe/London"',
        ),
        (
            "2099-12-24 UTC",
            '2099-12-24 UTC has no time: give one, such as "2099-12-24 09:00 UTC"',
        ),
        (
            "2099-12-24 Mars/Base",
            '2099-12-24 Mars/Base has no time: give one, such as "2099-12-24 09:00 Mars/Base"',
        ),
        (
            "2099-12-24 +01:00",
            "2099-12-24 +01:00 has no time: give one, such as 2099-12-24T09:00+01:00",
        ),
        (
            "2099-12-24 -05:00",
            "2099-12-24 -05:00 has no time: give one, such as 2099-12-24T09:00-05:00",
        ),
        ("2099-12-24 Z", "2099-12-24 Z has no time: give one, such as 2099-12-24T09:00Z"),
        # An offset straight after the date is no time either: not 01:00, not 05:00.
        (
            "2099-12-24+01:00",
            "2099-12-24+01:00 has no time: give one, such as 2099-12-24T09:00+01:00",
        ),
        (
            "2099-12-24-05:00",
            "2099-12-24-05:00 has no time: give one, such as 2099-12-24T09:00-05:00",
        ),
        ("2099-12-24Z", "2099-12-24Z has no time: give one, such as 2099-12-24T09:00Z"),
        (
            "2099-12-24T+01:00",
            "2099-12-24T+01:00 has no time: give one, such as 2099-12-24T09:00+01:00",
        ),
    ],
)
def test_a_date_without_a_time_is_refused_whatever_follows_it(capsys, at, line):
    assert refusal(capsys, at) == line


@pytest.mark.parametrize("at", ["2099-12-24", "2099-12-24 Europe/London", "2099-12-24 +01:00"])
def test_bulk_refuses_a_date_without_a_time_as_schedule_does(capsys, tmp_path, at):
    rows = tmp_path / "rows.csv"
    rows.write_text(f"to,text\n{UK},Hi\n", encoding="utf-8")
    bulk = ("bulk", str(rows), "--no-journal")

    assert refusal(capsys, at, command=bulk) == refusal(capsys, at)
    assert refusal(capsys, at, command=bulk).startswith(f"{at} has no time: give ")


def test_with_json_a_date_and_a_zone_without_a_time_is_an_error_not_midnight(capsys):
    code, out, err = run(
        capsys, "--json", "-p", "fake", "schedule", UK, "Hi", "--at", "2099-12-24 Europe/London"
    )

    assert (code, out) == (USAGE, "")
    assert json.loads(err) == {
        "error": '--at: 2099-12-24 Europe/London has no time: give one, such as "2099-12-24 '
        '09:00 Europe/London"',
        "exit_code": USAGE,
        "kind": "UsageError",
    }


# --- what else it refuses ------------------------------------------------------------------

NOT_READ = (
    "is not an ISO 8601 date and time with its offset (2099-12-24T09:00+01:00), nor a date "
    'and time with a time zone ("2099-12-24 09:00 Europe/London")'
)


@pytest.mark.parametrize(
    ("at", "line"),
    [
        (
            "2099-12-24T09:00",
            "2099-12-24T09:00 has no time zone: give its offset (2099-12-24T09:00+01:00) "
            'or its zone ("2099-12-24T09:00 Europe/London")',
        ),
        (
            "2099-12-24 09:00",
            "2099-12-24 09:00 has no time zone: give its offset (2099-12-24 09:00+01:00) "
            'or its zone ("2099-12-24 09:00 Europe/London")',
        ),
        (
            "2099-12-24T09:00+01:00 Europe/London",
            "2099-12-24T09:00+01:00 Europe/London gives both an offset and a time zone: give "
            "one of them",
        ),
        (
            "2020-01-05 09:00 Europe/London",
            "2020-01-05 09:00 Europe/London is not in the future; to send now, use `smsgate send`",
        ),
        (
            "2020-01-05T09:00+00:00",
            "2020-01-05T09:00+00:00 is not in the future; to send now, use `smsgate send`",
        ),
        (
            "2099-12-24 09:00 Mars/Base",
            "'Mars/Base' is not a time zone: give an IANA name such as Europe/London, or an "
            "offset such as +01:00",
        ),
        (
            "2099-03-29 02:30 Europe/Paris",
            "2099-03-29 02:30 does not exist in Europe/Paris: the clocks go forward then; give "
            "a time before or after",
        ),
        ("tomorrow", f"'tomorrow' {NOT_READ}"),
        ("09:00 Europe/London", f"'09:00 Europe/London' {NOT_READ}"),
        # Only T, t or spaces between the date and the time (not 01:00 on the 24th).
        ("2099-12-24x09:00+01:00", f"'2099-12-24x09:00+01:00' {NOT_READ}"),
        ("2099-12-24_09:00+01:00", f"'2099-12-24_09:00+01:00' {NOT_READ}"),
        ("2099-12-24TT09:00Z", f"'2099-12-24TT09:00Z' {NOT_READ}"),
        ("2099-12-24 T09:00 UTC", f"'2099-12-24 T09:00 UTC' {NOT_READ}"),
        ("2099-13-45 09:00 Europe/London", f"'2099-13-45 09:00 Europe/London' {NOT_READ}"),
        ("2099-13-45 Europe/London", f"'2099-13-45 Europe/London' {NOT_READ}"),
        ("2099-12-24 25:00 Europe/London", f"'2099-12-24 25:00 Europe/London' {NOT_READ}"),
        ("2099-12-24 09:00 10:00", f"'2099-12-24 09:00 10:00' {NOT_READ}"),
        ("2099-12-24 09:00 UTC now", f"'2099-12-24 09:00 UTC now' {NOT_READ}"),
        ("2099-12-24T09:00 10:00 UTC", f"'2099-12-24T09:00 10:00 UTC' {NOT_READ}"),
    ],
)
def test_a_bad_at_says_what_to_type(capsys, at, line):
    assert refusal(capsys, at) == line


# --- a time the clocks show twice ----------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "line"),
    [
        (
            "2099-10-25 01:30 Europe/London",
            "2099-10-25 01:30 happens twice in Europe/London (the clocks go back): give its "
            "offset, 2099-10-25T01:30+01:00 or 2099-10-25T01:30+00:00",
        ),
        (
            "2099-10-25T01:00:30 Europe/London",
            "2099-10-25 01:00:30 happens twice in Europe/London (the clocks go back): give its "
            "offset, 2099-10-25T01:00:30+01:00 or 2099-10-25T01:00:30+00:00",
        ),
        (
            "2099-11-01 01:59 America/New_York",
            "2099-11-01 01:59 happens twice in America/New_York (the clocks go back): give its "
            "offset, 2099-11-01T01:59-04:00 or 2099-11-01T01:59-05:00",
        ),
    ],
)
def test_a_time_the_clocks_show_twice_is_refused_with_both_offsets(capsys, at, line):
    assert refusal(capsys, at) == line


def test_each_offset_a_time_shown_twice_is_refused_with_is_taken_an_hour_apart(capsys):
    line = refusal(capsys, "2099-10-25 01:30 Europe/London")
    first, second = line.rsplit(", ", 1)[1].split(" or ")

    assert scheduled_at(capsys, first) == datetime(2099, 10, 25, 0, 30, tzinfo=UTC)
    assert scheduled_at(capsys, second) == datetime(2099, 10, 25, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "utc"),
    [
        ("2099-10-25 00:59 Europe/London", datetime(2099, 10, 24, 23, 59, tzinfo=UTC)),
        ("2099-10-25 02:00 Europe/London", datetime(2099, 10, 25, 2, tzinfo=UTC)),
        ("2099-03-29 03:00 Europe/Paris", datetime(2099, 3, 29, 1, tzinfo=UTC)),
    ],
)
def test_the_times_around_a_change_of_the_clocks_are_taken(capsys, at, utc):
    assert scheduled_at(capsys, at) == utc


# --- zones named by an abbreviation --------------------------------------------------------


ABBREVIATIONS = [
    ("EST", "America/New_York", "-05:00"),  # New York is then -04:00
    ("EST5EDT", "America/New_York", "-04:00"),
    ("CST6CDT", "America/Chicago", "-05:00"),
    ("MST", "America/Denver", "-07:00"),  # Denver is then -06:00
    ("MST7MDT", "America/Denver", "-06:00"),
    ("PST8PDT", "America/Los_Angeles", "-07:00"),
    ("HST", "Pacific/Honolulu", "-10:00"),
    ("CET", "Europe/Paris", "+02:00"),
    ("MET", "Europe/Paris", "+02:00"),
    ("EET", "Europe/Athens", "+03:00"),
    ("WET", "Europe/Lisbon", "+01:00"),
    ("GMT", "Europe/London", "+00:00"),  # London is then +01:00
    ("GMT0", "Europe/London", "+00:00"),
    ("GMT+0", "Europe/London", "+00:00"),
    ("GMT-0", "Europe/London", "+00:00"),
    ("Greenwich", "Europe/London", "+00:00"),
]


@pytest.mark.parametrize(("zone", "place", "offset"), ABBREVIATIONS)
def test_a_zone_named_by_an_abbreviation_is_refused_naming_a_place(capsys, zone, place, offset):
    assert refusal(capsys, f"2099-07-01 09:00 {zone}") == (
        f"'{zone}' is an abbreviation, not a place's clocks: give a place's zone, \"2099-07-01 "
        f'09:00 {place}", or an offset, 2099-07-01T09:00{offset} (what {zone} is then)'
    )


def test_the_zones_refused_as_abbreviations_are_those_above_with_their_places():
    assert {zone: place for zone, place, _ in ABBREVIATIONS} == ABBREVIATED_ZONES


@pytest.mark.parametrize(
    ("zone", "offset"),
    [("Etc/GMT+5", "-05:00"), ("Etc/GMT-14", "+14:00"), ("Etc/GMT+10", "-10:00")],
)
def test_an_etc_gmt_zone_whose_sign_is_backwards_is_refused_with_its_offset(capsys, zone, offset):
    assert refusal(capsys, f"2099-07-01 09:00 {zone}") == (
        f"'{zone}' is {offset} (its sign is backwards): give the offset instead, "
        f"2099-07-01T09:00{offset}"
    )


@pytest.mark.parametrize(
    ("at", "utc"),
    [
        ("2099-07-01 09:00 America/New_York", datetime(2099, 7, 1, 13, tzinfo=UTC)),
        ("2099-07-01 09:00 US/Eastern", datetime(2099, 7, 1, 13, tzinfo=UTC)),
        ("2099-07-01 09:00 Europe/London", datetime(2099, 7, 1, 8, tzinfo=UTC)),
        ("2099-07-01 09:00 Etc/UTC", datetime(2099, 7, 1, 9, tzinfo=UTC)),
        ("2099-07-01 09:00 Etc/GMT+0", datetime(2099, 7, 1, 9, tzinfo=UTC)),
        ("2099-07-01 09:00 -05:00", datetime(2099, 7, 1, 14, tzinfo=UTC)),
    ],
)
def test_a_places_zone_or_an_offset_is_taken_in_summer_too(capsys, at, utc):
    assert scheduled_at(capsys, at) == utc
