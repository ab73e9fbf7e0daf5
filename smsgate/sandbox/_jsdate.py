"""Dates read as JavaScript's ``new Date(text)`` reads them, for emulating servers written in it.

The SMS Works asks for schedule and search dates in "JavaScript date format" and reads them
with ``new Date()``. That takes far more than ISO 8601: its own ``Date.toString()`` (``Sun
Sep 03 2017 15:34:23 GMT+0100 (BST)``), ``toUTCString()`` (RFC 1123), and the free forms that
the provider's SDK examples write. The rules here are those of V8 (Node.js), the engine the
server runs on:

- **ISO 8601, as ECMAScript defines it**: ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``, each with an
  optional ``THH:mm``, ``:ss`` and ``.sss`` (any number of digits), then ``Z`` or ``±HH:mm``.
  A date alone is UTC; a date and time without an offset is **local time**.
- **Anything else**, the legacy reader: words, numbers and symbols in almost any order. Month
  names count by their first three letters; ``UT``, ``UTC``, ``GMT``, ``Z`` and the US zones
  (``EST`` ... ``PDT``) are zones; ``AM``/``PM`` move the hour; text in brackets is skipped;
  ``±hhmm`` after a zone or a time is an offset. Any other word (a weekday) is allowed only
  before the first number: ``BST`` after the time makes the date invalid, as it does in Node.
  Numbers are a time when joined by ``:``, else day, month and year in the order V8 guesses
  (``2017/09/03`` is year first; ``09/03/2017`` is month first); a missing year is 2001, and
  two-digit years are 19xx from 50 and 20xx below. Without a zone, the time is local.

``local`` is the server's time zone (Europe/London for The SMS Works). A day past the end of
its month rolls over into the next one, as ``new Date()`` does.

>>> from zoneinfo import ZoneInfo
>>> london = ZoneInfo("Europe/London")
>>> read_js_date("Sun Sep 03 2017 15:34:23 GMT+0100 (BST)", london).isoformat()
'2017-09-03T15:34:23+01:00'
>>> read_js_date("2017-09-03T15:34:23", london).isoformat()
'2017-09-03T15:34:23+01:00'
>>> read_js_date("Sun 03 Sep 2017 15:34:23 BST", london) is None
True
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

__all__ = ["read_js_date"]

_ISO = re.compile(
    r"(?P<year>[+-]\d{6}|\d{4})(?:-(?P<month>\d\d)(?:-(?P<day>\d\d))?)?"
    r"(?:T(?P<hour>\d\d):(?P<minute>\d\d)(?::(?P<second>\d\d)(?:\.(?P<fraction>\d+))?)?"
    r"(?P<zone>Z|[+-]\d\d:?\d\d)?)?",
    re.ASCII | re.IGNORECASE,
)
_TOKEN = re.compile(r"(?P<number>\d+)|(?P<word>[^\W\d_]+)|(?P<space>\s+)|(?P<symbol>.)", re.DOTALL)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_ZONES = {
    **dict.fromkeys(("ut", "utc", "z", "gmt"), 0),
    "cdt": -5,
    "cst": -6,
    "edt": -4,
    "est": -5,
    "mdt": -6,
    "mst": -7,
    "pdt": -7,
    "pst": -8,
}


def read_js_date(text: str, local: tzinfo) -> datetime | None:
    """``text`` read as ``new Date(text)`` reads it, aware; ``None`` where that gives an
    invalid date."""
    iso = _ISO.fullmatch(text)
    if iso is not None:
        return _iso(iso, local)
    return _legacy(text, local)


def _iso(found: re.Match[str], local: tzinfo) -> datetime | None:
    part = found.group
    fraction = (part("fraction") or "0")[:3].ljust(3, "0")
    written_zone = (part("zone") or "").upper()
    zone: tzinfo = UTC if part("hour") is None or written_zone == "Z" else local
    if written_zone not in ("", "Z"):
        sign = -1 if part("zone")[0] == "-" else 1
        digits = part("zone")[1:].replace(":", "")
        fixed = _fixed(sign, int(digits[:2]), int(digits[2:]))
        if fixed is None:
            return None
        zone = fixed
    return _make(
        year=int(part("year")),
        month=int(part("month") or 1),
        day=int(part("day") or 1),
        time=[int(part("hour") or 0), int(part("minute") or 0), int(part("second") or 0)],
        millisecond=int(fraction),
        zone=zone,
    )


def _tokens(text: str) -> list[tuple[str, str]]:
    """``(kind, text)`` pairs, with bracketed text left out (brackets nest)."""
    tokens: list[tuple[str, str]] = []
    depth = 0
    for found in _TOKEN.finditer(text):
        kind, value = found.lastgroup or "symbol", found.group()
        if value == "(":
            depth += 1
        elif value == ")" and depth:
            depth -= 1
        elif not depth:
            tokens.append((kind, value.lower()))
    tokens.append(("end", ""))
    return tokens


def _legacy(text: str, local: tzinfo) -> datetime | None:
    tokens, at = _tokens(text), 0
    day: list[int] = []
    month: int | None = None
    time: list[int] = []
    final = False
    offset: list[int] | None = None  # [sign, hours, minutes or -1]
    hour_shift: int | None = None
    read_number = False

    def peek(kind: str, value: str | None = None) -> bool:
        return tokens[at][0] == kind and (value is None or tokens[at][1] == value)

    def skip(value: str) -> bool:
        nonlocal at
        if peek("symbol", value):
            at += 1
            return True
        return False

    def expecting(n: int) -> bool:  # the next part of a time that has begun
        limits = {1: 59, 2: 59, 3: 999}
        return not final and len(time) in limits and 0 <= n <= limits[len(time)]

    while not peek("end"):
        kind, value = tokens[at]
        at += 1
        if kind == "number":
            read_number, n = True, int(value)
            if skip(":"):
                if skip(":"):
                    if time:
                        return None
                    time += [n, 0]
                else:
                    if final or len(time) >= 4:
                        return None
                    time.append(n)
                    skip(".")
            elif peek("symbol", ".") and expecting(n):
                at += 1
                if not peek("number"):
                    return None
                time.append(n)
                time.append(int(tokens[at][1][:3].ljust(3, "0")))
                at += 1
                final = True
            elif offset is not None and offset[2] == -1 and 0 <= n <= 59:
                offset[2] = n
            elif expecting(n):
                time.append(n)
                final = True
                if not (peek("end") or peek("space") or peek("word", "z") or _sign(tokens[at])):
                    return None
            else:
                if len(day) >= 3:
                    return None
                day.append(n)
                skip("-")
        elif kind == "word":
            if value in ("am", "pm") and time:
                hour_shift = 12 if value == "pm" else 0
            elif value[:3] in _MONTHS and (len(value) >= 3):
                month = _MONTHS.index(value[:3]) + 1
                skip("-")
            elif value in _ZONES and read_number:
                offset = [1 if _ZONES[value] >= 0 else -1, abs(_ZONES[value]), 0]
            elif read_number or peek("number"):
                return None  # a word that means nothing, after (or against) a number
        elif _sign((kind, value)) and (offset == [1, 0, 0] or time):
            sign = -1 if value == "-" else 1
            digits = tokens[at][1] if peek("number") else ""
            at += bool(digits)
            read_number = True
            if peek("symbol", ":"):
                offset = [sign, int(digits or 0), -1]
            elif len(digits) in (1, 2):
                offset = [sign, int(digits), 0]
            elif len(digits) in (3, 4):
                offset = [sign, int(digits) // 100, int(digits) % 100]
            else:
                return None
        elif (_sign((kind, value)) or value == ")") and read_number:
            return None
    return _compose(day, month, time, hour_shift, offset, local)


def _sign(token: tuple[str, str]) -> bool:
    return token[0] == "symbol" and token[1] in "+-"


def _compose(
    day: list[int],
    month: int | None,
    time: list[int],
    hour_shift: int | None,
    offset: list[int] | None,
    local: tzinfo,
) -> datetime | None:
    if not day:
        return None
    numbers = day + [1] * (3 - len(day))
    if month is None:
        if not 1 <= numbers[0] <= 31:
            year, month, date = numbers
        else:
            month, date, year = numbers
    elif not 1 <= numbers[0] <= 31:
        year, date = numbers[0], numbers[1]
    else:
        date, year = numbers[0], numbers[1]
    if 0 <= year <= 49:
        year += 2000
    elif 50 <= year <= 99:
        year += 1900
    hour, minute, second, millisecond = time + [0] * (4 - len(time))
    if hour_shift is not None:
        if not 0 <= hour <= 12:
            return None
        hour = hour % 12 + hour_shift
    zone: tzinfo | None = local
    if offset is not None:
        sign, hours, minutes = offset
        zone = _fixed(sign, hours, max(minutes, 0))
    if zone is None:
        return None
    return _make(
        year=year,
        month=month,
        day=date,
        time=[hour, minute, second],
        millisecond=millisecond,
        zone=zone,
    )


def _fixed(sign: int, hours: int, minutes: int) -> tzinfo | None:
    """A fixed offset, or ``None`` for one of a day or more."""
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(sign * offset) if offset < timedelta(hours=24) else None


def _make(
    *, year: int, month: int, day: int, time: list[int], millisecond: int, zone: tzinfo
) -> datetime | None:
    hour, minute, second = time
    if not (1 <= month <= 12 and 1 <= day <= 31 and 1 <= year <= 9999):
        return None
    valid_time = hour <= 23 and minute <= 59 and second <= 59
    if not valid_time and (hour, minute, second, millisecond) != (24, 0, 0, 0):
        return None
    # Adding to an aware datetime moves its wall-clock time, whose offset in a local zone
    # is then the one of that day (fold 0: in a gap or an overlap, the earlier offset).
    try:
        return datetime(year, month, 1, tzinfo=zone) + timedelta(
            days=day - 1, hours=hour, minutes=minute, seconds=second, milliseconds=millisecond
        )
    except OverflowError:
        return None
