"""Whether two sets of time zones keep the same clocks: zones that are other names of one
another (``Europe/Jersey`` and ``Europe/London``) give the same local time at every hour.

Zones are compared by their offsets from UTC at every hour of a year and a month from the
start of this year (a whole cycle of summer time, and the rules the tz database holds for
what is ahead); what they did in the past, where linked zones' histories differ, does not
matter to a message sent now or later.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["same_clocks"]

_HOURS = 24 * 400


@functools.cache
def _clock(key: str) -> tuple[tuple[int, timedelta | None], ...]:
    """Zone ``key``'s offsets over the span, as the hours they begin at (about 20 ms, once)."""
    zone = ZoneInfo(key)
    start = datetime(datetime.now(UTC).year, 1, 1, tzinfo=UTC)
    hour = timedelta(hours=1)
    offsets: list[tuple[int, timedelta | None]] = []
    last = None
    for step in range(_HOURS):
        offset = (start + step * hour).astimezone(zone).utcoffset()
        if offset != last:  # only the changes, and when
            offsets.append((step, offset))
            last = offset
    return tuple(offsets)


def same_clocks(these: Iterable[ZoneInfo], those: Iterable[ZoneInfo]) -> bool:
    """Whether the zones of ``these`` and of ``those`` keep the same set of clocks: local
    times, and so anything worked out from them, are the same with either."""
    return {_clock(z.key) for z in these} == {_clock(z.key) for z in those}
