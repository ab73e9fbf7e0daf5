"""Quiet hours: text people only while their own clock shows a time inside a daily window.

A `Window` (``"09:00-20:00"``, ``"Mon-Fri 09:00-20:00"``, ``"21:00-02:00"``) is read in each
recipient's local time. `zones_of` tells which time zones a number may be in; `next_opening`
tells whether a message may go now (``None``) or else the instant, in UTC, from which it may;
`open_until` tells until when it may. Nothing here does I/O.

The rules (docs/quiet-hours.md works through examples):

* **Every zone of the number.** A number that may be in several zones (a Russian or an
  Australian mobile, a US area code split by a zone line) is open only while the window is
  open in all of them at once: whichever zone the recipient is really in, their clock is
  inside the window.
* **No common opening, no guess.** When the zones share no opening in the 8 days after
  ``now`` (a two-hour window over New York and Honolulu), `next_opening` raises
  `ValidationError` naming the zones. Picking one of them would text the people in the others
  at night; the caller can give the recipient's own zone instead.
* **Clock changes.** A start or an end that the clock skips (02:30 on a spring-forward day)
  is the instant it skips it: the first instant after the gap. A start or an end that the
  clock shows twice (01:30 on a fall-back day) is read the way that keeps the window shorter:
  the window opens at the *second* showing of its start and closes at the *first* showing of
  its end. So the window is never open while the recipient's clock shows a time outside it.
  A window that the clock skips whole (02:10-02:40 in a one-hour gap) does not open that day.
* **Where a number is.** phonenumbers places a fixed line by its prefix, and a number tied
  to no place (most mobiles, toll-free numbers) in every zone of its calling code. A number
  it does not know (``Etc/Unknown``) gets every zone of its calling code too: the widest
  choice, and so the most careful. A zone name this Python cannot load is left out; when
  none is left, the calling code's zones are used, and when it has none (``+800``),
  `zones_of` raises `ValidationError`: give the recipient's zone instead.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import phonenumbers
from phonenumbers.timezone import UNKNOWN_TIMEZONE
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

from smsgate._tzrules import same_clocks
from smsgate.errors import ValidationError
from smsgate.numbers import normalize_number

__all__ = ["Window", "next_opening", "open_until", "zones_of"]

# Days as `date.weekday` numbers them: 0 is Monday.
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAY_NAMES = {
    name.lower(): number
    for number, names in enumerate(
        zip(
            _DAYS,
            ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
            strict=True,
        )
    )
    for name in names
}
_EVERY_DAY = frozenset(range(7))
_ONE_DAY = timedelta(days=1)
_ONE_SECOND = timedelta(seconds=1)

# "09:00-20:00", optionally after days ("Mon-Fri 09:00-20:00"); an en dash too, as pasted
# from documents.
_WINDOW_TEXT = re.compile(
    r"(?:(?P<days>[A-Za-z][A-Za-z ,\-\u2013]*?)\s+)?"
    r"(?P<start>[0-9]{1,2}:[0-9]{2})\s*[-\u2013]\s*(?P<end>[0-9]{1,2}:[0-9]{2})"
)
_WINDOW_SHAPE = "write it as HH:MM-HH:MM, such as '09:00-20:00' or 'Mon-Fri 09:00-20:00'"

# How far ahead a common opening is looked for: a week and a day, so that every day of the
# week is seen once whatever the time of day.
_HORIZON = timedelta(days=8)
# The days of one zone's openings looked at from an instant: the day before (an opening
# that runs past midnight), the week after, and a day to spare for an opening the clock
# skipped.
_DAYS_LOOKED_AT = 10
# Instants so near the ends of the calendar that the days looked at would leave it.
_EARLIEST = datetime.min.replace(tzinfo=UTC) + timedelta(days=30)
_LATEST = datetime.max.replace(tzinfo=UTC) - timedelta(days=30)


def _weekdays(days: Iterable[int]) -> frozenset[int]:
    shape = "days must be weekday numbers, 0 for Monday to 6 for Sunday"
    try:
        chosen = frozenset(days)
    except TypeError:
        raise ValidationError("window", f"{shape}, not {days!r}") from None
    if not chosen:
        raise ValidationError("window", "has no days; leave days out to open every day")
    if any(type(day) is not int or not 0 <= day <= 6 for day in chosen):
        raise ValidationError("window", f"{shape}, not {sorted(chosen, key=repr)!r}")
    return chosen


@attrs.frozen(cache_hash=True)
class Window:
    """A daily span of local time in which messages may be sent, read in each recipient's zone.

    Open from ``start`` (included) to ``end`` (excluded). An ``end`` earlier than ``start``
    runs past midnight: ``21:00-02:00`` is open from 21:00 until 02:00 the next morning, and
    the day it belongs to is the day it opens. An ``end`` of ``time(0)`` is midnight at the
    end of the day (``"24:00"`` in `parse`). Times are whole minutes, without a ``tzinfo``.

    Attributes:
        start: when it opens, local time.
        end: when it closes, local time.
        days: the days it opens on, as `date.weekday` numbers them (0 is Monday); every day
            by default.

    Raises:
        ValidationError: (field ``window``) a time is not a naive `datetime.time` in whole
            minutes, ``start`` equals ``end`` (no length: to send at any hour, give no
            window), or ``days`` is empty or holds something other than 0 to 6.

    >>> str(Window(time(21), time(2), days=[4, 5]))
    'Fri-Sat 21:00-02:00'
    """

    start: time
    end: time
    days: frozenset[int] = attrs.field(default=_EVERY_DAY, converter=_weekdays)

    def __attrs_post_init__(self) -> None:
        for which, clock in (("start", self.start), ("end", self.end)):
            if not isinstance(clock, time):
                raise ValidationError(
                    "window", f"{which} must be a datetime.time, not {type(clock).__name__}"
                )
            if clock.tzinfo is not None:
                raise ValidationError(
                    "window",
                    f"{which} {clock} has a tzinfo; a window is read in each recipient's own "
                    "zone, so give its times without one",
                )
            if clock.second or clock.microsecond:
                raise ValidationError("window", f"{which} {clock} is not a whole minute")
        if self.start == self.end:
            raise ValidationError(
                "window",
                f"starts and ends at {_clock(self.start)}: it has no length, or it covers the "
                "whole day; to send at any hour, give no window",
            )

    @classmethod
    def parse(cls, text: str) -> Window:
        """Read a window as people write it: ``"09:00-20:00"``, ``"Mon-Fri 09:00-20:00"``.

        Hours take one or two digits; ``24:00`` may end a window (midnight at the end of the
        day) but not start one. Days are English names or their first three letters, in any
        case, separated by commas, with ranges (``"Sun-Thu"`` runs across the week's end).

        Raises:
            ValidationError: (field ``window``) the text is not a window, names a time of
                day or a day that does not exist, or the window has no length.

        >>> str(Window.parse("mon - fri 9:00 - 24:00"))
        'Mon-Fri 09:00-24:00'
        """
        if not isinstance(text, str):
            raise ValidationError("window", f"must be text such as '09:00-20:00', not {text!r}")
        written = _WINDOW_TEXT.fullmatch(text.strip())
        if written is None:
            raise ValidationError("window", f"{text!r} is not a window: {_WINDOW_SHAPE}")
        days = _EVERY_DAY if written["days"] is None else _read_days(written["days"], text)
        return cls(
            _read_clock(written["start"], text, may_be_midnight=False),
            _read_clock(written["end"], text, may_be_midnight=True),
            days,
        )

    def __str__(self) -> str:
        """The window as `parse` reads it back: ``'Mon-Fri 09:00-20:00'``."""
        end = "24:00" if self.end == time(0) else _clock(self.end)
        times = f"{_clock(self.start)}-{end}"
        return times if self.days == _EVERY_DAY else f"{_write_days(self.days)} {times}"


def _clock(clock: time) -> str:
    return f"{clock.hour:02}:{clock.minute:02}"


def _read_clock(written: str, text: str, *, may_be_midnight: bool) -> time:
    hours, minutes = (int(part) for part in written.split(":"))
    if hours == 24 and minutes == 0:
        if may_be_midnight:
            return time(0)
        raise ValidationError("window", f"{text!r} starts at 24:00; write 00:00")
    if hours > 23 or minutes > 59:
        raise ValidationError("window", f"{text!r}: {written} is not a time of day")
    return time(hours, minutes)


def _read_days(written: str, text: str) -> frozenset[int]:
    days: set[int] = set()
    for item in written.split(","):
        ends = [part.strip().lower() for part in re.split("[-\u2013]", item)]
        unknown = [end for end in ends if end not in _DAY_NAMES]
        if len(ends) > 2 or unknown:
            raise ValidationError(
                "window",
                f"{text!r}: {item.strip()!r} is not a day or a range of days; "
                f"use {', '.join(_DAYS)}, or ranges such as Mon-Fri",
            )
        first, last = _DAY_NAMES[ends[0]], _DAY_NAMES[ends[-1]]
        days.update((first + step) % 7 for step in range((last - first) % 7 + 1))
    return frozenset(days)


def _write_days(days: frozenset[int]) -> str:
    """Runs of days as ranges, in the week's order from Monday: ``Mon-Wed,Fri``."""
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ",".join(
        _DAYS[run[0]] if len(run) == 1 else f"{_DAYS[run[0]]}-{_DAYS[run[-1]]}" for run in runs
    )


# --- The zones of a number ----------------------------------------------------------------

# The calling code each number's first three digits begin with (the shortest that is one).
_CALLING_CODES = frozenset(str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
_CALLING_CODE_OF = {
    first: next(first[:size] for size in (1, 2, 3) if first[:size] in _CALLING_CODES)
    for first in map(str, range(100, 1000))
    if any(first[:size] in _CALLING_CODES for size in (1, 2, 3))
}


def zones_of(number: str) -> tuple[ZoneInfo, ...]:
    """The time zones the owner of ``number`` may be in, from phonenumbers' data.

    The zones are those ``phonenumbers.timezone.time_zones_for_number`` gives the number,
    except that where it gives ``Etc/Unknown`` (it does not know the number) they are all the
    zones of the number's calling code. What phonenumbers knows is kept per calling code and
    prefix, so most numbers cost a few dictionary look-ups; only where a prefix's zones
    depend on the number's type (a fixed line or not) does phonenumbers read the number.

    Args:
        number: the recipient's number in E.164 form (``+12086541234``), or written as
            `smsgate.numbers.normalize_number` reads it with a ``+``.

    Raises:
        ValidationError: the number is not a phone number (field ``to``), or no zone is
            known for it (field ``zone``; ``+800`` numbers): give the recipient's zone.

    >>> [zone.key for zone in zones_of("+1 208 654 1234")]
    ['America/Boise', 'America/Los_Angeles']
    """
    e164 = normalize_number(number)
    digits = e164[1:]
    code = _CALLING_CODE_OF[digits[:3]]
    broad, prefix_sizes = _calling_code_data(code)
    for size in prefix_sizes:
        names = TIMEZONE_DATA.get(digits[:size])
        if names is not None:
            narrow = _loaded(names)
            # phonenumbers places only fixed lines (and mobiles in a few countries) by
            # their prefix; any other number, or one it finds invalid, has its calling
            # code's zones.
            # Its type decides, unless both keep the same clocks (+44: London, Jersey).
            if (
                narrow
                and narrow != broad
                and (same_clocks(narrow, broad) or _is_geographic(code, digits[len(code) :]))
            ):
                return narrow
            break
    if not broad:
        raise ValidationError(
            "zone",
            f"no time zone is known for {e164}; give the recipient's zone instead "
            "(zone=ZoneInfo('...'))",
        )
    return broad


@functools.cache
def _calling_code_data(code: str) -> tuple[tuple[ZoneInfo, ...], tuple[int, ...]]:
    """The zones of a calling code and, when a prefix within it has zones of its own, the
    lengths of its prefixes that phonenumbers holds zones for, longest first (for most codes
    none: every number of the code has the code's zones).

    The code's zones are found as phonenumbers' ``_country_level_time_zones_for_number``
    finds them (the code, then its first two digits); a number's own zones as
    ``time_zones_for_geographical_number`` finds them (its longest prefix that has any).
    """
    broad = next(
        (_loaded(TIMEZONE_DATA[prefix]) for prefix in (code, code[:2]) if prefix in TIMEZONE_DATA),
        (),
    )
    prefixes = [
        prefix
        for prefix in TIMEZONE_DATA
        if len(prefix) <= TIMEZONE_LONGEST_PREFIX
        and (prefix.startswith(code) or code.startswith(prefix))
    ]
    if all(_loaded(TIMEZONE_DATA[prefix]) in (broad, ()) for prefix in prefixes):
        return broad, ()
    return broad, tuple(sorted({len(prefix) for prefix in prefixes}, reverse=True))


@functools.cache
def _loaded(names: tuple[str, ...]) -> tuple[ZoneInfo, ...]:
    """The zones of ``names`` that this Python can load: phonenumbers' zone names come from
    its own copy of the tz database, which may be newer than the installed one."""
    zones: list[ZoneInfo] = []
    for name in names:
        if name == UNKNOWN_TIMEZONE:
            continue
        try:
            zones.append(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue
    return tuple(zones)


def _is_geographic(code: str, national: str) -> bool:
    """Whether phonenumbers places this number by its prefix: it is valid and of a type
    tied to a place (``is_number_type_geographical``)."""
    calling_code = int(code)
    number = phonenumbers.PhoneNumber(country_code=calling_code, national_number=int(national))
    if len(national) > 1 and national[0] == "0":
        # As phonenumbers.parse keeps the leading zeros of an Italian-style number.
        number.italian_leading_zero = True
        zeros = min(len(national) - len(national.lstrip("0")), len(national) - 1)
        if zeros != 1:
            number.number_of_leading_zeros = zeros
    kind = phonenumbers.number_type(number)
    return (
        kind != phonenumbers.PhoneNumberType.UNKNOWN
        and phonenumbers.is_number_type_geographical(kind, calling_code)
    )


# --- When a window is open ------------------------------------------------------------------


def next_opening(
    recipient: str | ZoneInfo | Iterable[ZoneInfo], window: Window, now: datetime
) -> datetime | None:
    """When a message to ``recipient`` may be sent: ``None`` for now, or a later instant.

    ``None`` when ``window`` is open at ``now`` in every zone of the recipient; otherwise the
    earliest instant after ``now`` at which it is open in all of them at once, in UTC.

    Args:
        recipient: the recipient's number (its zones are `zones_of` it), one zone, or several.
        window: when messages may arrive, in the recipient's local time.
        now: the current instant; an aware datetime.

    Raises:
        ValidationError: ``now`` is not an aware datetime (field ``now``); the number is
            not one (``to``), or has no known zone, or a zone is not a ZoneInfo (``zone``);
            ``window`` is not a `Window`, or the zones share no opening in the 8 days after
            ``now`` (``window``; the message names the zones).

    >>> sydney = ZoneInfo("Australia/Sydney")
    >>> next_opening(sydney, Window.parse("09:00-20:00"), datetime(2099, 7, 1, 12, tzinfo=UTC))
    datetime.datetime(2099, 7, 1, 23, 0, tzinfo=datetime.timezone.utc)
    """
    zones, instant = _zones(recipient), _instant_of(now)
    start, _ = _common_opening(zones, _checked(window), instant, recipient)
    return None if start == instant else start


def open_until(
    recipient: str | ZoneInfo | Iterable[ZoneInfo], window: Window, at: datetime
) -> datetime | None:
    """Until when a message to ``recipient`` may be sent: the instant the window, open at
    ``at`` in every zone of the recipient, closes in one of them (in UTC); ``None`` when it is
    not open at ``at`` in all of them.

    Messages for the same zones may be sent until that instant, excluded, without asking again.

    Raises:
        ValidationError: as `next_opening`, except that zones with no common opening give
            ``None``.

    >>> noon_in_sydney = datetime(2099, 7, 1, 2, tzinfo=UTC)
    >>> open_until("+61 2 9876 5432", Window.parse("09:00-20:00"), noon_in_sydney)
    datetime.datetime(2099, 7, 1, 10, 0, tzinfo=datetime.timezone.utc)
    """
    zones, instant, checked = _zones(recipient), _instant_of(at), _checked(window)
    end = None
    for zone in zones:
        span = _opening(zone, checked, instant)
        if span is None or span[0] > instant:
            return None
        end = span[1] if end is None else min(end, span[1])
    return end


def _zones(recipient: str | ZoneInfo | Iterable[ZoneInfo]) -> tuple[ZoneInfo, ...]:
    if isinstance(recipient, str):
        return zones_of(recipient)
    if isinstance(recipient, ZoneInfo):
        return (recipient,)
    shape = "give the recipient's number, a ZoneInfo, or several ZoneInfo"
    try:
        zones = tuple(recipient)
    except TypeError:
        raise ValidationError("zone", f"{shape}, not {type(recipient).__name__}") from None
    if not zones:
        raise ValidationError("zone", f"no zone given; {shape}")
    for zone in zones:
        if not isinstance(zone, ZoneInfo):
            raise ValidationError("zone", f"{zone!r} is not a ZoneInfo; {shape}")
    return tuple(dict.fromkeys(zones))


def _checked(window: Window) -> Window:
    if not isinstance(window, Window):
        raise ValidationError(
            "window", f"must be a Window such as Window.parse('09:00-20:00'), not {window!r}"
        )
    return window


def _instant_of(now: datetime) -> datetime:
    if not isinstance(now, datetime):
        raise ValidationError("now", f"must be a datetime, not {type(now).__name__}")
    if now.utcoffset() is None:
        raise ValidationError(
            "now",
            f"{now.isoformat()} has no time zone; pass an aware datetime, e.g. datetime.now(UTC)",
        )
    try:
        instant = now.astimezone(UTC)
    except OverflowError:
        instant = None
    if instant is None or not _EARLIEST <= instant <= _LATEST:
        raise ValidationError("now", f"{now.isoformat()} is too near the ends of the calendar")
    return instant


# What was last found for each set of zones and window: ``(since, start, until)``, the
# first common opening after ``since`` (``start`` to ``until``), or none before ``until``
# (``start`` is None). It answers every instant from ``since`` until ``until``, which is how
# a bulk run asks, message after message.
_FOUND: dict[tuple[tuple[ZoneInfo, ...], Window], tuple[datetime, datetime | None, datetime]] = {}
_FOUND_KEPT = 4096


def _common_opening(
    zones: tuple[ZoneInfo, ...], window: Window, now: datetime, recipient: object
) -> tuple[datetime, datetime]:
    """The first span, from ``now`` on, in which ``window`` is open in every zone."""
    known = _FOUND.get((zones, window))
    looked_from = now
    if known is not None and known[0] <= now < known[2]:
        if known[1] is not None:
            return max(now, known[1]), known[2]
        looked_from = known[2]
    if len(_FOUND) >= _FOUND_KEPT:
        _FOUND.clear()
    try:
        start, end = _search(zones, window, looked_from, now + _HORIZON)
    except LookupError:
        _FOUND[zones, window] = now, None, now + _HORIZON
        number = f"{normalize_number(recipient)}, in " if isinstance(recipient, str) else ""
        raise ValidationError(
            "window",
            f"{window} is never open in all of {number}{', '.join(z.key for z in zones)} at "
            f"once in the 8 days from {now:%Y-%m-%d %H:%M} UTC; widen the window, or give "
            "the recipient's own zone",
        ) from None
    _FOUND[zones, window] = now, start, end
    return start, end


def _search(
    zones: tuple[ZoneInfo, ...], window: Window, at: datetime, limit: datetime
) -> tuple[datetime, datetime]:
    """The first span from ``at`` on in which ``window`` is open in every zone.

    Raises:
        LookupError: no such span begins before ``limit``.
    """
    while at < limit:
        spans = [_opening(zone, window, at) for zone in zones]
        found = [span for span in spans if span is not None]
        if len(found) < len(spans):
            break
        start = max(at, *(span_start for span_start, _ in found))
        end = min(span_end for _, span_end in found)
        if start < end:
            if start >= limit:
                break
            return start, end
        # Some zone closes before another opens: nothing is open in all of them before the
        # latest opening, so look again from there.
        at = start
    raise LookupError("no common opening")


def _opening(zone: ZoneInfo, window: Window, at: datetime) -> tuple[datetime, datetime] | None:
    """The first span of ``window`` in ``zone`` that ends after ``at``, joined with the next
    days' spans that begin as it ends; ``None`` when none begins within `_DAYS_LOOKED_AT`."""
    day = at.astimezone(zone).date() - _ONE_DAY
    for _ in range(_DAYS_LOOKED_AT):
        span = _day_opening(zone, window, day)
        day += _ONE_DAY
        if span is None or span[1] <= at:
            continue
        start, end = span
        # A clock change can swallow the closed time between two days' spans.
        while (following := _day_opening(zone, window, day)) is not None and following[0] <= end:
            end, day = following[1], day + _ONE_DAY
        return start, end
    return None


@functools.lru_cache(maxsize=16384)
def _day_opening(zone: ZoneInfo, window: Window, day: date) -> tuple[datetime, datetime] | None:
    """The span, in UTC, in which ``window`` is open in ``zone`` from its start on ``day``;
    ``None`` when it does not open that day."""
    if day.weekday() not in window.days:
        return None
    start = _utc(datetime.combine(day, window.start), zone, later=True)
    end_day = day if window.start < window.end else day + _ONE_DAY
    end = _utc(datetime.combine(end_day, window.end), zone, later=False)
    return (start, end) if start < end else None


def _utc(wall: datetime, zone: ZoneInfo, *, later: bool) -> datetime:
    """The instant at which ``zone``'s clock shows the naive ``wall``: when it shows it twice,
    the later showing if ``later`` else the earlier; when it skips it, the instant it skips it.
    """
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first == second:
        return first
    if first < second:
        return second if later else first
    # In a gap, fold=0 reads the wall time with the offset from before the change and
    # fold=1 with the one from after (PEP 495), which puts the change between them. Changes
    # fall on whole seconds: find it by halving.
    before, after = second, first
    offset_before = before.astimezone(zone).utcoffset()
    while after - before > _ONE_SECOND:
        middle = before + max(_ONE_SECOND, (after - before) // _ONE_SECOND // 2 * _ONE_SECOND)
        if middle.astimezone(zone).utcoffset() == offset_before:
            before = middle
        else:
            after = middle
    return after
