"""Quiet hours (smsgate.quiet): windows, the zones of numbers, and when a window opens.

Expected instants are worked out by hand in the comments; "EST 00:00" means the zone's clock
shows 00:00 and is on that offset. The property tests hold `next_opening` and `open_until`
to an independent reading of the rules (`inside`) on a minute grid.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import phonenumbers
import phonenumbers.timezone
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers.tzdata import TIMEZONE_DATA

from smsgate import quiet
from smsgate._tzrules import same_clocks
from smsgate.errors import ValidationError
from smsgate.quiet import Window, next_opening, open_until, zones_of

DOCS = Path(__file__).parent.parent / "docs" / "quiet-hours.md"

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
TOKYO = ZoneInfo("Asia/Tokyo")
KOLKATA = ZoneInfo("Asia/Kolkata")
DAYTIME = Window(time(9), time(20))


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def keys(zones: tuple[ZoneInfo, ...]) -> list[str]:
    return [zone.key for zone in zones]


# --- Window ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start", "end", "days"),
    [
        ("09:00-20:00", time(9), time(20), range(7)),
        ("9:00-20:00", time(9), time(20), range(7)),
        ("  09:00 - 20:00 ", time(9), time(20), range(7)),
        ("09:00\u201320:00", time(9), time(20), range(7)),  # an en dash, as pasted
        ("21:00-02:00", time(21), time(2), range(7)),  # runs past midnight
        ("09:00-24:00", time(9), time(0), range(7)),  # 24:00 ends at midnight
        ("00:00-00:01", time(0), time(0, 1), range(7)),
        ("Mon-Fri 09:00-20:00", time(9), time(20), range(5)),
        ("sat,SUN 10:00-16:00", time(10), time(16), [5, 6]),
        ("Sun-Thu 08:00-17:00", time(8), time(17), [6, 0, 1, 2, 3]),  # across the week's end
        ("Monday-Friday 09:00-20:00", time(9), time(20), range(5)),
        ("Mon, Wed - Fri 09:00-20:00", time(9), time(20), [0, 2, 3, 4]),
        ("Fri 21:00-02:00", time(21), time(2), [4]),
    ],
)
def test_parse_reads_windows_as_people_write_them(text, start, end, days):
    assert Window.parse(text) == Window(start, end, days)


@pytest.mark.parametrize(
    ("window", "text"),
    [
        (Window(time(9), time(20)), "09:00-20:00"),
        (Window(time(21, 30), time(0)), "21:30-24:00"),
        (Window(time(9), time(20), [0, 1, 2, 3, 4]), "Mon-Fri 09:00-20:00"),
        (Window(time(9), time(20), [6, 0, 1, 2, 3]), "Mon-Thu,Sun 09:00-20:00"),
        (Window(time(9), time(20), [0, 2, 4]), "Mon,Wed,Fri 09:00-20:00"),
    ],
)
def test_str_writes_what_parse_reads(window, text):
    assert str(window) == text
    assert Window.parse(text) == window


@given(
    start=st.integers(0, 1439),
    length=st.integers(1, 1439),
    days=st.frozensets(st.integers(0, 6), min_size=1),
)
def test_every_window_reads_back_from_its_text(start, length, days):
    end = (start + length) % 1440
    window = Window(time(start // 60, start % 60), time(end // 60, end % 60), days)
    assert Window.parse(str(window)) == window


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is not a window"),
        ("   ", "is not a window"),
        ("daytime", "is not a window"),
        ("09:00", "is not a window"),
        ("9-20", "is not a window"),
        ("09:00-20:00-21:00", "is not a window"),
        ("9:0-20:00", "is not a window"),
        ("09:00:00-20:00:00", "is not a window"),
        ("09h00-20h00", "is not a window"),
        ("\u0660\u0669:\u0660\u0660-\u0662\u0660:\u0660\u0660", "is not a window"),  # Arabic digits
        ("Mon-Fri09:00-20:00", "is not a window"),
        ("25:00-26:00", "25:00 is not a time of day"),
        ("09:60-10:00", "09:60 is not a time of day"),
        ("09:00-24:30", "24:30 is not a time of day"),
        ("24:00-06:00", "starts at 24:00; write 00:00"),
        ("09:00-09:00", "has no length"),
        ("00:00-24:00", "covers the whole day"),
        ("Mox-Fri 09:00-20:00", "'Mox-Fri' is not a day"),
        ("Mon-Wed-Fri 09:00-20:00", "'Mon-Wed-Fri' is not a day or a range"),
        ("Mon,,Fri 09:00-20:00", "'' is not a day"),
        ("M 09:00-20:00", "'M' is not a day"),
    ],
)
def test_parse_refuses_what_is_not_a_window(text, problem):
    with pytest.raises(ValidationError, match=re.escape(problem)) as caught:
        Window.parse(text)
    assert caught.value.field == "window"


@pytest.mark.parametrize("text", [None, 900, b"09:00-20:00", time(9)])
def test_parse_refuses_what_is_not_text(text):
    with pytest.raises(ValidationError, match="must be text") as caught:
        Window.parse(text)
    assert caught.value.field == "window"


@pytest.mark.parametrize(
    ("start", "end", "days", "problem"),
    [
        ("09:00", time(20), range(7), "start must be a datetime.time, not str"),
        (time(9), datetime(2024, 1, 1, 20), range(7), "end must be a datetime.time, not datetime"),
        (time(9, tzinfo=UTC), time(20), range(7), "start 09:00:00+00:00 has a tzinfo"),
        (time(9), time(20, tzinfo=LONDON), range(7), "end 20:00:00 has a tzinfo"),
        (time(9, 0, 30), time(20), range(7), "start 09:00:30 is not a whole minute"),
        (time(9), time(20, 0, 0, 1), range(7), "is not a whole minute"),
        (time(9), time(9), range(7), "starts and ends at 09:00: it has no length"),
        (time(0), time(0), range(7), "covers the whole day"),
        (time(9), time(20), [], "has no days"),
        (time(9), time(20), [7], "0 for Monday to 6 for Sunday, not [7]"),
        (time(9), time(20), [-1, 0], "0 for Monday to 6 for Sunday"),
        (time(9), time(20), [True], "0 for Monday to 6 for Sunday, not [True]"),
        (time(9), time(20), "Mon", "0 for Monday to 6 for Sunday"),
        (time(9), time(20), 5, "0 for Monday to 6 for Sunday, not 5"),
    ],
)
def test_window_refuses_what_cannot_be_a_window(start, end, days, problem):
    with pytest.raises(ValidationError, match=re.escape(problem)) as caught:
        Window(start, end, days)
    assert caught.value.field == "window"


def test_a_window_is_a_frozen_hashable_value():
    window = Window.parse("Mon-Fri 09:00-20:00")
    assert window == Window(time(9), time(20), days=[4, 3, 2, 1, 0])
    assert len({window, Window(time(9), time(20), range(5))}) == 1
    assert window != Window(time(9), time(20))
    with pytest.raises(AttributeError):
        window.start = time(8)  # type: ignore[misc]


# --- zones_of --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "zones"),
    [
        ("+33 6 12 34 56 78", ["Europe/Paris"]),
        ("+61 2 9876 5432", ["Australia/Sydney"]),  # a Sydney fixed line
        ("+7 495 123 45 67", ["Europe/Moscow"]),  # a Moscow fixed line
        ("+1 212 555 1234", ["America/New_York"]),
        # US: area code 208 is Idaho, split between Mountain and Pacific time.
        ("+1 208 654 1234", ["America/Boise", "America/Los_Angeles"]),
        # Canada: 709 is Newfoundland (NST, -3:30) and Labrador (partly Atlantic, -4).
        ("+1 709 634 1234", ["America/Halifax", "America/St_Johns"]),
        # Indonesia: a Papua fixed line.
        ("+62 403 123456", ["Asia/Jayapura", "Asia/Makassar"]),
        # Indonesia: toll-free numbers are tied to no place, so all three zones.
        ("+62 800 123456", ["Asia/Jakarta", "Asia/Jayapura", "Asia/Makassar"]),
        # Brazil: toll-free, all of Brazil's zones from Noronha (-2) to Acre (-5).
        (
            "+55 800 123 4567",
            ["America/Manaus", "America/Noronha", "America/Rio_Branco", "America/Sao_Paulo"],
        ),
        # Australia: mobiles are tied to no place, from Cocos (+6:30) to Lord Howe (+11).
        (
            "+61 412 345 678",
            [
                "Australia/Adelaide",
                "Australia/Brisbane",
                "Australia/Eucla",
                "Australia/Lord_Howe",
                "Australia/Perth",
                "Australia/Sydney",
                "Indian/Christmas",
                "Indian/Cocos",
            ],
        ),
    ],
)
def test_zones_of_a_number_are_phonenumbers_zones(number, zones):
    assert keys(zones_of(number)) == zones


def test_a_russian_mobile_may_be_in_any_of_sixteen_zones():
    zones = keys(zones_of("+7 916 123 45 67"))
    assert len(zones) == 16
    assert {"Europe/Moscow", "Europe/Bucharest", "Asia/Kamchatka", "Asia/Anadyr"} <= set(zones)


def test_a_toll_free_number_of_north_america_has_every_zone_of_plus_1():
    zones = keys(zones_of("+1 800 900 1234"))
    assert len(zones) == 42
    assert {"Pacific/Guam", "Pacific/Honolulu", "America/New_York", "America/Jamaica"} <= set(zones)


@pytest.mark.parametrize(
    ("number", "country_level"),
    [
        ("+1 555 555 5555", "1"),  # no such area code
        ("+44 7700 900123", "44"),  # Ofcom's range for drama, which phonenumbers finds invalid
        ("+55 61 1234 5678", "55"),
        ("+62 806 12345", "62"),
    ],
)
def test_a_number_phonenumbers_cannot_place_gets_all_zones_of_its_calling_code(
    number, country_level
):
    parsed = phonenumbers.parse(number)
    assert phonenumbers.timezone.time_zones_for_number(parsed) == ("Etc/Unknown",)
    assert clocks(keys(zones_of(number)), TIMEZONE_DATA[country_level])


@pytest.mark.parametrize("number", ["+800 1234 5678", "+882 3456 7890", "+808 1234 5678"])
def test_a_number_with_no_zone_at_all_is_refused_with_advice(number):
    with pytest.raises(ValidationError, match=r"no time zone is known for \+8.*zone=") as caught:
        zones_of(number)
    assert caught.value.field == "zone"


@pytest.mark.parametrize("number", ["", "07700 900123", "+44 hello", "+1 2", 447700900123])
def test_zones_of_refuses_what_is_not_an_international_number(number):
    with pytest.raises(ValidationError) as caught:
        zones_of(number)
    assert caught.value.field == "to"


def clocks(found: list[str], names: Iterable[str]) -> bool:
    """Whether ``found`` are the zones ``names``, or other names of the same clocks (where
    the number's type does not change them, phonenumbers' narrower or broader list)."""
    names = [name for name in names if name != "Etc/Unknown"]
    if found == names:
        return True
    return bool(found) and same_clocks(map(ZoneInfo, found), map(ZoneInfo, names))


def sample_numbers() -> Iterator[str]:
    """Every region's example number of every type, and random numbers of every calling
    code (the same ones every run)."""
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in range(12):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                yield phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    draw = random.Random(20240310)
    codes = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    for _ in range(8_000):
        digits = "".join(draw.choice("0123456789") for _ in range(draw.randint(4, 13)))
        yield f"+{draw.choice(codes)}{digits}"


def test_zones_of_agrees_with_phonenumbers_on_every_calling_code():
    compared = 0
    for number in sample_numbers():
        try:
            parsed = phonenumbers.parse(number)
        except phonenumbers.NumberParseException:
            continue
        possible = phonenumbers.is_possible_number_with_reason(parsed)
        if possible != phonenumbers.ValidationResult.IS_POSSIBLE:
            continue  # refused by normalize_number
        names = phonenumbers.timezone.time_zones_for_number(parsed)
        if names == ("Etc/Unknown",):
            code = str(parsed.country_code)
            names = TIMEZONE_DATA.get(code) or TIMEZONE_DATA.get(code[:2], ())
        refused = None
        try:
            found = keys(zones_of(number))
        except ValidationError as error:
            refused, found = error.field, []
        assert refused in (None, "zone"), number
        assert clocks(found, names), number
        compared += 1
    assert compared > 2_000


def test_every_zone_phonenumbers_names_loads():
    # The rule that leaves out zones this Python cannot load never drops one here.
    names = {name for zones in TIMEZONE_DATA.values() for name in zones}
    assert len(names) > 250
    assert all(ZoneInfo(name).key == name for name in names)


@pytest.fixture
def fresh_zone_data(monkeypatch):
    """phonenumbers' zone data, changeable for one test; what smsgate.quiet kept of it is
    forgotten before and after."""

    def forget() -> None:
        quiet._loaded.cache_clear()
        quiet._calling_code_data.cache_clear()

    forget()
    yield lambda prefix, names: monkeypatch.setitem(TIMEZONE_DATA, prefix, names)
    monkeypatch.undo()
    forget()


def test_a_zone_that_cannot_be_loaded_is_left_out(fresh_zone_data):
    fresh_zone_data("1212", ("Nowhere/Atlantis", "America/New_York", "../etc/passwd"))
    assert keys(zones_of("+1 212 555 1234")) == ["America/New_York"]


def test_a_prefix_whose_zones_cannot_be_loaded_has_its_calling_codes_zones(fresh_zone_data):
    fresh_zone_data("3361", ("Nowhere/Atlantis",))
    assert keys(zones_of("+33 6 12 34 56 78")) == ["Europe/Paris"]


def test_a_number_none_of_whose_zones_load_is_refused(fresh_zone_data):
    fresh_zone_data("33", ("Nowhere/Atlantis", "America"))
    with pytest.raises(ValidationError, match="no time zone is known for") as caught:
        zones_of("+33 6 12 34 56 78")
    assert caught.value.field == "zone"


# --- next_opening and open_until: one zone ----------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "window", "now", "opening"),
    [
        # London in January is on GMT (+0): 07:00 is before 09:00, which is 09:00 UTC.
        (LONDON, "09:00-20:00", utc(2024, 1, 15, 7), utc(2024, 1, 15, 9)),
        # New York in July is on EDT (-4): 12:00 UTC is 08:00; 09:00 EDT is 13:00 UTC.
        (NEW_YORK, "09:00-20:00", utc(2024, 7, 1, 12), utc(2024, 7, 1, 13)),
        # Sydney in July is on AEST (+10): 12:00 UTC is 22:00; 09:00 next day is 23:00 UTC.
        (SYDNEY, "09:00-20:00", utc(2024, 7, 1, 12), utc(2024, 7, 1, 23)),
        # At 20:00 sharp the window has closed (its end is excluded): the next day's 09:00.
        (LONDON, "09:00-20:00", utc(2024, 1, 15, 20), utc(2024, 1, 16, 9)),
        # Overnight: 21:00-02:00 in London in January; 02:00 has just closed it.
        (LONDON, "21:00-02:00", utc(2024, 1, 15, 2), utc(2024, 1, 15, 21)),
        # Kolkata is +5:30 all year: 09:00 IST is 03:30 UTC.
        (KOLKATA, "09:00-20:00", utc(2024, 3, 31, 0), utc(2024, 3, 31, 3, 30)),
        # Days: Friday 2024-01-19 20:00 in London has closed a Mon-Fri window: Monday 09:00.
        (LONDON, "Mon-Fri 09:00-20:00", utc(2024, 1, 19, 20), utc(2024, 1, 22, 9)),
        # The day is the recipient's: Sunday 22:00 UTC is Monday 08:00 in Sydney (AEST), so
        # a Mon-Fri window opens at 09:00 Monday there, 23:00 UTC on Sunday.
        (SYDNEY, "Mon-Fri 09:00-20:00", utc(2024, 7, 14, 22), utc(2024, 7, 14, 23)),
        # An overnight window belongs to the day it opens: "Fri 21:00-02:00" at Saturday
        # 03:00 has closed for the week; it opens next Friday 2024-01-26 at 21:00.
        (LONDON, "Fri 21:00-02:00", utc(2024, 1, 20, 3), utc(2024, 1, 26, 21)),
    ],
)
def test_next_opening_in_one_zone(zone, window, now, opening):
    assert next_opening(zone, Window.parse(window), now) == opening


@pytest.mark.parametrize(
    ("zone", "window", "now", "until"),
    [
        # Open from 09:00 (included): at 09:00 sharp a message may go, until 20:00 GMT.
        (LONDON, "09:00-20:00", utc(2024, 1, 15, 9), utc(2024, 1, 15, 20)),
        (LONDON, "09:00-20:00", utc(2024, 1, 15, 19, 59, 59), utc(2024, 1, 15, 20)),
        # Overnight, after midnight: 01:00 GMT is inside 21:00-02:00, which closes at 02:00.
        (LONDON, "21:00-02:00", utc(2024, 1, 15, 1), utc(2024, 1, 15, 2)),
        # 24:00 is midnight at the end of the day.
        (LONDON, "09:00-24:00", utc(2024, 1, 15, 23, 30), utc(2024, 1, 16)),
        # Saturday 2024-01-20 at 01:00 is still inside Friday's overnight window.
        (LONDON, "Fri 21:00-02:00", utc(2024, 1, 20, 1), utc(2024, 1, 20, 2)),
    ],
)
def test_when_the_window_is_open_a_message_may_go_now_until_it_closes(zone, window, now, until):
    assert next_opening(zone, Window.parse(window), now) is None
    assert open_until(zone, Window.parse(window), now) == until


def test_open_until_is_none_when_the_window_is_closed():
    assert open_until(LONDON, DAYTIME, utc(2024, 1, 15, 8, 59, 59)) is None
    assert open_until(LONDON, Window.parse("Mon-Fri 09:00-20:00"), utc(2024, 1, 20, 12)) is None


def test_now_may_be_given_in_any_zone():
    # 2024-01-15 08:00 in New York (EST) is 13:00 UTC: inside London's window.
    in_new_york = datetime(2024, 1, 15, 8, tzinfo=NEW_YORK)
    assert next_opening(LONDON, DAYTIME, in_new_york) is None
    # 06:00 in Tokyo is 21:00 UTC the day before: London opens at 09:00 UTC on the 15th.
    in_tokyo = datetime(2024, 1, 15, 6, tzinfo=TOKYO)
    assert next_opening(LONDON, DAYTIME, in_tokyo) == utc(2024, 1, 15, 9)
    fixed = datetime(2024, 1, 15, 6, tzinfo=timezone(timedelta(hours=-3)))  # 09:00 UTC
    assert next_opening(LONDON, DAYTIME, fixed) is None


def test_asking_again_later_or_earlier_gives_the_same_answers():
    # The last answer for a set of zones is kept for the next asker; it must hold for any
    # instant asked, before, inside or after the opening it found.
    window = Window.parse("10:00-11:00")
    zones = (LONDON, ZoneInfo("Europe/Lisbon"))  # the same clock in January
    asked = [
        (utc(2024, 1, 15, 8), utc(2024, 1, 15, 10)),
        (utc(2024, 1, 15, 9, 59, 59, 999999), utc(2024, 1, 15, 10)),
        (utc(2024, 1, 15, 10), None),
        (utc(2024, 1, 15, 10, 59), None),
        (utc(2024, 1, 15, 11), utc(2024, 1, 16, 10)),
        (utc(2024, 1, 15, 7), utc(2024, 1, 15, 10)),
        (utc(2024, 1, 14, 10, 30), None),
    ]
    for now, opening in asked:
        assert next_opening(zones, window, now) == opening, now


# --- clock changes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "window", "now", "opening"),
    [
        # New York, 2024-03-10: at 07:00 UTC the clock jumps from 02:00 EST to 03:00 EDT.
        # 02:30 is never shown: the window opens as the clock skips it, at 07:00 UTC.
        (NEW_YORK, "02:30-20:00", utc(2024, 3, 10, 5), utc(2024, 3, 10, 7)),
        # A window the clock skips whole does not open that day; on the 11th 02:10 EDT is
        # 06:10 UTC.
        (NEW_YORK, "02:10-02:40", utc(2024, 3, 10, 5), utc(2024, 3, 11, 6, 10)),
        # New York, 2024-11-03: at 06:00 UTC the clock goes back from 02:00 EDT to 01:00 EST,
        # so 01:30 is shown twice, at 05:30 and 06:30 UTC. At 05:40 UTC the clock shows
        # 01:40, inside 01:30-20:00, but the window opens at the second 01:30: 06:30 UTC.
        (NEW_YORK, "01:30-20:00", utc(2024, 11, 3, 5, 40), utc(2024, 11, 3, 6, 30)),
        # 20:00-01:30 closed at the first 01:30 (05:30 UTC); at 06:10 UTC the clock shows
        # 01:10 again, and the window stays shut until 20:00 EST, 01:00 UTC on the 4th.
        (NEW_YORK, "20:00-01:30", utc(2024, 11, 3, 6, 10), utc(2024, 11, 4, 1)),
        # London, 2024-03-31: at 01:00 UTC the clock jumps from 01:00 GMT to 02:00 BST.
        (LONDON, "01:30-20:00", utc(2024, 3, 31, 0), utc(2024, 3, 31, 1)),
        # London, 2024-10-27: at 01:00 UTC the clock goes back from 02:00 BST to 01:00 GMT;
        # 01:30 is shown at 00:30 UTC (BST) and at 01:30 UTC (GMT): the second one.
        (LONDON, "01:30-20:00", utc(2024, 10, 27, 0), utc(2024, 10, 27, 1, 30)),
        # Sydney, 2024-04-07: at 16:00 UTC on the 6th the clock goes back from 03:00 AEDT to
        # 02:00 AEST; 02:30 is shown at 15:30 and at 16:30 UTC: the second one.
        (SYDNEY, "02:30-20:00", utc(2024, 4, 6, 15, 10), utc(2024, 4, 6, 16, 30)),
        # Sydney, 2024-10-06: at 16:00 UTC on the 5th the clock jumps from 02:00 AEST to
        # 03:00 AEDT: 02:30 is skipped, and the window opens as it is, at 16:00 UTC.
        (SYDNEY, "02:30-20:00", utc(2024, 10, 5, 15), utc(2024, 10, 5, 16)),
        # Lord Howe, 2024-04-07: at 15:00 UTC on the 6th the clock goes back half an hour,
        # from 02:00 (+11) to 01:30 (+10:30); 01:45 is shown at 14:45 and at 15:15 UTC.
        (LORD_HOWE, "01:45-20:00", utc(2024, 4, 6, 14), utc(2024, 4, 6, 15, 15)),
        # Lord Howe, 2024-10-06: at 15:30 UTC on the 5th the clock jumps from 02:00 (+10:30)
        # to 02:30 (+11); 02:10 is skipped.
        (LORD_HOWE, "02:10-20:00", utc(2024, 10, 5, 15), utc(2024, 10, 5, 15, 30)),
        # Tokyo keeps +9 all year: on the days New York's and London's clocks change, 02:30
        # is 17:30 UTC the day before, as on any other day.
        (TOKYO, "02:30-20:00", utc(2024, 3, 9, 17), utc(2024, 3, 9, 17, 30)),
        (TOKYO, "02:30-20:00", utc(2024, 3, 30, 17), utc(2024, 3, 30, 17, 30)),
        (TOKYO, "02:30-20:00", utc(2024, 10, 26, 17), utc(2024, 10, 26, 17, 30)),
        (TOKYO, "02:30-20:00", utc(2024, 11, 2, 17), utc(2024, 11, 2, 17, 30)),
    ],
)
def test_a_start_the_clock_skips_opens_as_it_is_skipped_and_one_it_shows_twice_at_the_second(
    zone, window, now, opening
):
    assert next_opening(zone, Window.parse(window), now) == opening


@pytest.mark.parametrize(
    ("zone", "window", "now", "until"),
    [
        # New York, 2024-03-10: the window opened at 22:00 EST on the 9th; its end, 02:30,
        # is skipped when the clock jumps at 07:00 UTC, so it closes then. At 06:00 UTC the
        # clock shows 01:00 EST.
        (NEW_YORK, "22:00-02:30", utc(2024, 3, 10, 6), utc(2024, 3, 10, 7)),
        # New York, 2024-11-03: 01:30 is shown at 05:30 UTC (EDT) and 06:30 UTC (EST); the
        # window closes at the first.
        (NEW_YORK, "20:00-01:30", utc(2024, 11, 3, 5), utc(2024, 11, 3, 5, 30)),
        # London, 2024-03-31: 01:30 is skipped when the clock jumps at 01:00 UTC.
        (LONDON, "21:00-01:30", utc(2024, 3, 31, 0, 30), utc(2024, 3, 31, 1)),
        # London, 2024-10-27: 01:30 is shown at 00:30 UTC (BST) and 01:30 UTC (GMT).
        (LONDON, "22:00-01:30", utc(2024, 10, 27), utc(2024, 10, 27, 0, 30)),
        # Sydney, 2024-04-07: 02:30 is shown at 15:30 UTC (AEDT) and 16:30 UTC (AEST).
        (SYDNEY, "20:00-02:30", utc(2024, 4, 6, 15), utc(2024, 4, 6, 15, 30)),
        # Sydney, 2024-10-06: 02:30 is skipped when the clock jumps at 16:00 UTC on the 5th.
        (SYDNEY, "20:00-02:30", utc(2024, 10, 5, 15, 30), utc(2024, 10, 5, 16)),
        # Lord Howe, 2024-04-07: 01:45 is shown at 14:45 UTC (+11) and 15:15 UTC (+10:30).
        (LORD_HOWE, "20:00-01:45", utc(2024, 4, 6, 14), utc(2024, 4, 6, 14, 45)),
        # Lord Howe, 2024-10-06: 02:10 is skipped when the clock jumps at 15:30 UTC.
        (LORD_HOWE, "20:00-02:10", utc(2024, 10, 5, 15), utc(2024, 10, 5, 15, 30)),
        # Tokyo: 02:30 JST on 2024-11-03 is 17:30 UTC on the 2nd, clock changes elsewhere
        # or not.
        (TOKYO, "20:00-02:30", utc(2024, 11, 2, 17), utc(2024, 11, 2, 17, 30)),
    ],
)
def test_an_end_the_clock_skips_closes_as_it_is_skipped_and_one_it_shows_twice_at_the_first(
    zone, window, now, until
):
    assert next_opening(zone, Window.parse(window), now) is None
    assert open_until(zone, Window.parse(window), now) == until


def test_the_closed_time_a_clock_change_swallows_does_not_end_the_window():
    # 03:00-02:30 is closed 30 minutes a day. In New York on 2024-03-10 those 30 minutes
    # (02:30-03:00) are skipped: the window opened at 03:00 EST on the 9th (08:00 UTC) stays
    # open through the jump at 07:00 UTC until 02:30 EDT on the 11th, 06:30 UTC.
    window = Window.parse("03:00-02:30")
    assert open_until(NEW_YORK, window, utc(2024, 3, 10, 6)) == utc(2024, 3, 11, 6, 30)


# --- several zones -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recipient", "now", "opening", "until"),
    [
        # Idaho in January: Boise on MST (-7) opens at 16:00 UTC, Los Angeles on PST (-8) at
        # 17:00; Boise closes first, at 20:00 MST, 03:00 UTC.
        ("+1 208 654 1234", utc(2024, 1, 15, 15), utc(2024, 1, 15, 17), utc(2024, 1, 16, 3)),
        # Newfoundland and Labrador in January: Halifax (AST, -4) opens at 13:00 UTC, after
        # St John's (NST, -3:30) at 12:30; St John's closes first, at 23:30 UTC.
        ("+1 709 634 1234", utc(2024, 1, 15, 12), utc(2024, 1, 15, 13), utc(2024, 1, 15, 23, 30)),
        # A Russian mobile in January: Bucharest (+2) is the last to open, at 07:00 UTC, and
        # Kamchatka and Anadyr (+12) the first to close, at 08:00 UTC: an hour a day.
        ("+7 916 123 45 67", utc(2024, 1, 15), utc(2024, 1, 15, 7), utc(2024, 1, 15, 8)),
        # In July Bucharest is on +3: the window opens at 06:00 UTC.
        ("+7 916 123 45 67", utc(2024, 7, 15), utc(2024, 7, 15, 6), utc(2024, 7, 15, 8)),
        # An Australian mobile in January: Cocos (+6:30) opens last, at 02:30 UTC; Lord Howe
        # on summer time (+11) closes first, at 09:00 UTC.
        ("+61 412 345 678", utc(2024, 1, 15), utc(2024, 1, 15, 2, 30), utc(2024, 1, 15, 9)),
        # In July Lord Howe is on +10:30 and closes at 09:30 UTC.
        ("+61 412 345 678", utc(2024, 7, 15), utc(2024, 7, 15, 2, 30), utc(2024, 7, 15, 9, 30)),
        # A Brazilian toll-free number: Rio Branco (-5) opens last, at 14:00 UTC; Noronha
        # (-2) closes first, at 22:00 UTC.
        ("+55 800 123 4567", utc(2024, 1, 15), utc(2024, 1, 15, 14), utc(2024, 1, 15, 22)),
        # A Papua fixed line: at 00:00 UTC Jayapura (+9) shows 09:00, open, but Makassar (+8)
        # shows 08:00: it opens at 01:00 UTC; Jayapura closes at 11:00 UTC.
        ("+62 403 123456", utc(2024, 1, 15), utc(2024, 1, 15, 1), utc(2024, 1, 15, 11)),
        # An Indonesian toll-free number: Jakarta (+7) opens at 02:00 UTC.
        ("+62 800 123456", utc(2024, 1, 15), utc(2024, 1, 15, 2), utc(2024, 1, 15, 11)),
        # London (GMT until 31 March) and New York (EDT from 10 March), 2024-03-20: New York
        # opens at 13:00 UTC, London closes at 20:00 UTC.
        ((LONDON, NEW_YORK), utc(2024, 3, 20), utc(2024, 3, 20, 13), utc(2024, 3, 20, 20)),
        # On 2024-04-05 London is on BST and closes at 19:00 UTC.
        ((LONDON, NEW_YORK), utc(2024, 4, 5), utc(2024, 4, 5, 13), utc(2024, 4, 5, 19)),
        # Every zone of +1, from Guam (+10) to Pago Pago (-11): Guam's 09:00 is 23:00 UTC,
        # when every other zone of +1 shows between 12:00 and 19:30; St John's (-3:30) shows
        # 20:00 at 23:30 UTC.
        ("+1 800 900 1234", utc(2024, 1, 15), utc(2024, 1, 15, 23), utc(2024, 1, 15, 23, 30)),
    ],
)
def test_a_number_in_several_zones_gets_the_window_open_in_all_of_them(
    recipient, now, opening, until
):
    assert next_opening(recipient, DAYTIME, now) == opening
    assert next_opening(recipient, DAYTIME, opening) is None
    assert open_until(recipient, DAYTIME, opening) == until
    assert open_until(recipient, DAYTIME, until) is None


US_ZONES = [
    ZoneInfo(name)
    for name in (
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Los_Angeles",
        "America/Anchorage",
        "Pacific/Honolulu",
    )
]


def test_zones_too_far_apart_for_the_window_are_refused_naming_them():
    # A two-hour window: New York's 09:00-11:00 is 14:00-16:00 UTC in January, Honolulu's
    # (-10) 19:00-21:00 UTC; they never meet.
    with pytest.raises(ValidationError, match="never open in all of") as caught:
        next_opening(US_ZONES, Window.parse("09:00-11:00"), utc(2024, 1, 15))
    assert caught.value.field == "window"
    assert all(zone.key in str(caught.value) for zone in US_ZONES)
    assert "09:00-11:00" in str(caught.value)
    assert "widen the window, or give the recipient's own zone" in str(caught.value)


def test_a_number_whose_zones_are_too_far_apart_is_named_in_the_refusal():
    with pytest.raises(ValidationError, match=r"all of \+18009001234, in America/Adak") as caught:
        next_opening("+1 800 900 1234", Window.parse("09:00-11:00"), utc(2024, 1, 15))
    assert caught.value.field == "window"
    # Asking again a little later is refused again.
    with pytest.raises(ValidationError, match="never open"):
        next_opening("+1 800 900 1234", Window.parse("09:00-11:00"), utc(2024, 1, 15, 1))


def test_zones_that_meet_only_after_a_clock_change_are_refused_until_it_is_near():
    # New York and Honolulu with 09:00-15:00: in summer (EDT, -4) New York's window is
    # 13:00-19:00 UTC and Honolulu's (-10, no summer time) 19:00-01:00 UTC: they only touch.
    # From 3 November New York is on EST (-5): 14:00-20:00 UTC meets 19:00-01:00 UTC.
    zones = (NEW_YORK, ZoneInfo("Pacific/Honolulu"))
    window = Window.parse("09:00-15:00")
    with pytest.raises(ValidationError, match="never open"):
        next_opening(zones, window, utc(2024, 10, 20))
    # Asked on 27 October, eight days reach the change: 19:00 UTC on 3 November.
    assert next_opening(zones, window, utc(2024, 10, 27)) == utc(2024, 11, 3, 19)
    assert open_until(zones, window, utc(2024, 11, 3, 19)) == utc(2024, 11, 3, 20)
    assert open_until(zones, window, utc(2024, 10, 21, 19)) is None


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "problem"),
    [
        (datetime(2024, 1, 15, 9), "has no time zone; pass an aware datetime"),
        ("2024-01-15T09:00Z", "must be a datetime, not str"),
        (date(2024, 1, 15), "must be a datetime, not date"),
        (1705309200, "must be a datetime, not int"),
        (datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))), "ends of the calendar"),
        (datetime(9999, 12, 31, 12, tzinfo=UTC), "too near the ends of the calendar"),
        (datetime(1, 1, 2, tzinfo=UTC), "too near the ends of the calendar"),
    ],
)
def test_now_must_be_an_aware_datetime(now, problem):
    for ask in (next_opening, open_until):
        with pytest.raises(ValidationError, match=re.escape(problem)) as caught:
            ask(LONDON, DAYTIME, now)
        assert caught.value.field == "now"


@pytest.mark.parametrize(
    ("recipient", "field", "problem"),
    [
        ([], "zone", "no zone given"),
        (["Europe/London"], "zone", "'Europe/London' is not a ZoneInfo"),
        ((LONDON, UTC), "zone", "is not a ZoneInfo"),
        (None, "zone", "not NoneType"),
        (44, "zone", "not int"),
        ("Europe/London", "to", "is not a phone number"),
        ("07700 900123", "to", "has no country code"),
        ("+800 1234 5678", "zone", "no time zone is known"),
    ],
)
def test_the_recipient_must_be_a_number_or_zones(recipient, field, problem):
    for ask in (next_opening, open_until):
        with pytest.raises(ValidationError, match=re.escape(problem)) as caught:
            ask(recipient, DAYTIME, utc(2024, 1, 15))
        assert caught.value.field == field


@pytest.mark.parametrize("window", ["09:00-20:00", None, (time(9), time(20))])
def test_the_window_must_be_a_window(window):
    for ask in (next_opening, open_until):
        with pytest.raises(ValidationError, match="must be a Window") as caught:
            ask(LONDON, window, utc(2024, 1, 15))
        assert caught.value.field == "window"


def test_zones_given_twice_count_once():
    assert next_opening([LONDON, LONDON], DAYTIME, utc(2024, 1, 15, 7)) == utc(2024, 1, 15, 9)


# --- properties ----------------------------------------------------------------------------------

ZONES = [
    ZoneInfo(name)
    for name in (
        "Europe/London",
        "America/New_York",
        "Australia/Sydney",
        "Australia/Lord_Howe",  # a half-hour change
        "Asia/Tokyo",  # no change
        "Asia/Kathmandu",  # +5:45
        "Pacific/Chatham",  # +12:45 / +13:45
        "America/Santiago",  # changes at midnight, southern
        "Asia/Beirut",  # goes back from 00:00 to 23:00 the day before
        "America/Havana",  # changes at 00:00 and 01:00
        "Antarctica/Troll",  # a two-hour change
        "Pacific/Kiritimati",  # +14
        "Pacific/Pago_Pago",  # -11
    )
]


def clock_changes(zone: ZoneInfo, year: int) -> list[datetime]:
    """The instants, in UTC, at which ``zone``'s offset changes in ``year``."""
    changes = []
    hour = datetime(year, 1, 1, tzinfo=UTC)
    while hour.year == year:
        later = hour + timedelta(hours=1)
        if hour.astimezone(zone).utcoffset() != later.astimezone(zone).utcoffset():
            before, after = hour, later
            while after - before > timedelta(seconds=1):
                middle = before + (after - before) / 2
                same = middle.astimezone(zone).utcoffset() == hour.astimezone(zone).utcoffset()
                before, after = (middle, after) if same else (before, middle)
            changes.append(after.replace(microsecond=0))
        hour = later
    return changes


CHANGES = {zone: clock_changes(zone, 2024) for zone in ZONES}


def inside(zone: ZoneInfo, window: Window, at: datetime) -> bool:
    """Whether ``window`` is open in ``zone`` at ``at``, read from the rules as written: the
    clock shows a time inside the window, on one of its days, and not between the two
    showings of a start or an end that the clock shows twice."""
    wall = at.astimezone(zone).replace(tzinfo=None, fold=0)
    clock = wall.time()
    if window.start < window.end:
        if not window.start <= clock < window.end:
            return False
        day = wall.date()
    elif clock >= window.start:
        day = wall.date()
    elif clock < window.end:
        day = wall.date() - timedelta(days=1)
    else:
        return False
    if day.weekday() not in window.days:
        return False
    end_day = day if window.start < window.end else day + timedelta(days=1)
    for moment in (datetime.combine(day, window.start), datetime.combine(end_day, window.end)):
        first = moment.replace(tzinfo=zone, fold=0).astimezone(UTC)
        second = moment.replace(tzinfo=zone, fold=1).astimezone(UTC)
        if first <= at < second:
            return False
    return True


def inside_all(zones: list[ZoneInfo], window: Window, at: datetime) -> bool:
    return all(inside(zone, window, at) for zone in zones)


def minutes(start: datetime, end: datetime) -> Iterator[datetime]:
    """``start`` and every whole minute after it, before ``end``."""
    if start < end:
        yield start
    at = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while at < end:
        yield at
        at += timedelta(minutes=1)


CLOCKS = st.one_of(
    st.integers(0, 1439),
    st.sampled_from([0, 1, 30, 59, 60, 90, 105, 120, 130, 150, 180, 1380, 1410, 1439]),
)
DAYS = st.one_of(st.just(frozenset(range(7))), st.frozensets(st.integers(0, 6), min_size=1))


def minute_of_day(at: datetime, zone: ZoneInfo) -> int:
    shown = at.astimezone(zone)
    return shown.hour * 60 + shown.minute


@st.composite
def cases(draw: st.DrawFn) -> tuple[Window, list[ZoneInfo], datetime]:
    """A window, one to three zones and an instant; half of them near a change of the first
    zone's clock, with the window starting or ending near the times the clock skips or
    shows twice."""
    zones = draw(st.lists(st.sampled_from(ZONES), min_size=1, max_size=3, unique=True))
    clocks = CLOCKS
    near_a_change = draw(st.booleans())
    if CHANGES[zones[0]] and near_a_change:
        change = draw(st.sampled_from(CHANGES[zones[0]]))
        now = change + draw(st.timedeltas(timedelta(days=-2), timedelta(days=1)))
        # What the clock shows as it changes: the end of the old time, the new time.
        edges = [
            minute_of_day(change - timedelta(seconds=1), zones[0]) + 1,
            minute_of_day(change, zones[0]),
        ]
        near = st.builds(
            lambda edge, shift: (edge + shift) % 1440,
            st.sampled_from(edges),
            st.sampled_from([-60, -30, -1, 0, 1, 15, 30, 60]),
        )
        clocks = st.one_of(near, near, CLOCKS)
    else:
        now = draw(
            st.datetimes(datetime(2020, 1, 1), datetime(2030, 12, 31), timezones=st.just(UTC))
        )
    start = draw(clocks)
    end = draw(clocks.filter(lambda end: end != start))
    window = Window(time(start // 60, start % 60), time(end // 60, end % 60), draw(DAYS))
    return window, zones, now


@settings(max_examples=150, deadline=None)
@given(case=cases())
def test_next_opening_is_the_first_instant_open_in_every_zone(case):
    window, zones, now = case
    refused = None
    try:
        opening = next_opening(zones, window, now)
    except ValidationError as error:
        refused, opening = error.field, None
    if refused is not None:
        assert refused == "window"
        assert not any(inside_all(zones, window, at) for at in minutes(now, now + timedelta(2)))
        return
    if opening is None:
        assert inside_all(zones, window, now)
        until = open_until(zones, window, now)
        assert until is not None
        assert until > now
        assert not inside_all(zones, window, until)
        assert all(inside_all(zones, window, at) for at in minutes(now, until))
        return
    assert opening.tzinfo is UTC
    assert opening > now
    assert inside_all(zones, window, opening)
    assert open_until(zones, window, now) is None
    earlier = minutes(max(now, opening - timedelta(hours=48)), opening)
    assert not any(inside_all(zones, window, at) for at in earlier)


# --- the documentation ---------------------------------------------------------------------------

EXAMPLES = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)


def test_the_documentation_has_examples():
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"example-{n}" for n in range(len(EXAMPLES))])
def test_every_example_in_the_documentation_runs(example):
    exec(compile(example, str(DOCS), "exec"), {})
