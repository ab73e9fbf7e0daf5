"""What every suppression list shares: its record (`Entry`), its protocol
(`SuppressionList`), its error, how it reads numbers, and the list kept in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Protocol, Self, runtime_checkable

import attrs

from smsgate.errors import SmsGateError, ValidationError
from smsgate.numbers import _NUMBER_SHAPE as NUMBER_SHAPE
from smsgate.numbers import check_region, normalize_number
from smsgate.text import check_unicode

__all__ = [
    "Entry",
    "MemorySuppressionList",
    "SuppressionError",
    "SuppressionList",
    "check_entry",
    "given_forms",
    "numbers_by_e164",
    "read_region",
    "to_e164",
]


class SuppressionError(SmsGateError):
    """A suppression list cannot be used: its file is not a suppression list or is damaged,
    or its database cannot be reached or written. Nothing was changed; a send that needed
    the list to be read should not go ahead without it."""


@attrs.frozen
class Entry:
    """A number on a suppression list.

    Attributes:
        number: the number, in E.164 form (``+447700900123``).
        reason: why it is on the list (``"STOP"``, the keyword it replied), if known.
        source: where the opt-out came from: ``"inbound"`` (a reply), ``"cli"``, or what the
            code that added it said (``"manual"`` by default).
        when: when it was added (UTC).
    """

    number: str
    reason: str | None
    source: str
    when: datetime


@runtime_checkable
class SuppressionList(Protocol):
    """Numbers that must not be texted: they opted out (replied STOP) or were taken off by
    hand. Every number is kept in E.164 form, whatever form it was given in.

    Each method that takes numbers reads them with `smsgate.normalize_number`: a national
    number is read in the list's ``region``, and one without a region, or one that cannot be
    a phone number, raises `smsgate.ValidationError` before the list is touched.

    Implementations: `MemorySuppressionList`, `SqliteSuppressionList` (one file, shared by
    the processes of a machine) and `PostgresSuppressionList` (shared by every machine).
    """

    async def add(self, number: str, *, reason: str | None = None, source: str = "manual") -> bool:
        """Put ``number`` on the list; ``True`` if it was not on it. A number on the list
        already keeps its entry (its first reason, source and time)."""
        ...

    async def remove(self, number: str) -> bool:
        """Take ``number`` off the list; ``True`` if it was on it."""
        ...

    async def contains(self, number: str) -> bool:
        """Whether ``number`` is on the list."""
        ...

    async def suppressed(self, numbers: Iterable[str], *, e164: bool = False) -> set[str]:
        """Which of ``numbers`` are on the list, as they were given, in one round trip
        (one query however many numbers: a bulk send asks once a chunk). ``e164``: the
        numbers are in E.164 already (`Message.to` is), so they are looked up as they are,
        without being read again."""
        ...

    def entries(self) -> AsyncIterator[Entry]:
        """Every entry, in the order of their numbers."""
        ...

    async def aclose(self) -> None:
        """Let go of the file or the connection (a list used again opens it again)."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc_info: object) -> None: ...


def read_region(region: str | None) -> str | None:
    """``region`` checked, for a list's constructor (``None``: numbers must be E.164)."""
    return None if region is None else check_region(region)


def to_e164(
    number: str, region: str | None, *, hint: str = "give the list a region such as 'GB'"
) -> str:
    """``number`` in E.164, or a `ValidationError` naming the field ``number``; ``hint``
    says how to give a region, to a national number without one."""
    try:
        return normalize_number(number, region, field="number")
    except ValidationError:
        if region is None and isinstance(number, str):
            written = number.strip()
            if written and not written.startswith("+") and NUMBER_SHAPE.fullmatch(written):
                raise ValidationError(
                    "number",
                    f"{number!r} has no country code: write it as +<country code><number>, "
                    f"or {hint}",
                ) from None
        raise


def check_entry(reason: str | None, source: str) -> None:
    """Refuse a ``reason`` or ``source`` that cannot be stored."""
    if reason is not None:
        if not isinstance(reason, str):
            raise ValidationError("reason", f"must be a string, not {type(reason).__name__}")
        check_unicode("reason", reason)
    if not isinstance(source, str) or not source.strip():
        raise ValidationError("source", "must be a non-empty string such as 'inbound'")
    check_unicode("source", source)


def numbers_by_e164(
    numbers: Iterable[str], region: str | None, *, read: bool = True
) -> dict[str, list[str]]:
    """Each number of ``numbers`` in E.164, with the forms it was given in (``read=False``:
    they are E.164 already, each its own form).

    Raises:
        ValidationError: ``numbers`` is one string, or one of them is not a phone number.
    """
    if isinstance(numbers, str):
        raise ValidationError("numbers", "must be an iterable of numbers, not one string")
    if not read:
        return {number: [number] for number in numbers}
    given: dict[str, list[str]] = {}
    for number in numbers:
        e164 = to_e164(number, region)
        forms = given.get(e164)
        if forms is None:
            given[e164] = [number]
        else:
            forms.append(number)
    return given


def given_forms(found: Iterable[str], given: dict[str, list[str]]) -> set[str]:
    """The numbers as given whose E.164 forms are ``found``."""
    return {form for e164 in found for form in given[e164]}


class MemorySuppressionList:
    """A `SuppressionList` held in this process's memory: for tests, and for one process
    that loads its list from elsewhere. Lost when the process ends.

    Args:
        region: the country national numbers belong to (``"GB"``); ``None``: every number
            must be written with its country code.

    Raises:
        ValidationError: ``region`` is not a two-letter region code.

    >>> import asyncio
    >>> stop = MemorySuppressionList(region="GB")
    >>> asyncio.run(stop.add("07700 900123", reason="STOP"))
    True
    >>> asyncio.run(stop.suppressed(["+447700900123", "+447700900456"]))
    {'+447700900123'}
    """

    def __init__(self, *, region: str | None = None) -> None:
        self.region = read_region(region)
        self._entries: dict[str, Entry] = {}

    def __repr__(self) -> str:
        return f"MemorySuppressionList({len(self._entries)} numbers)"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def add(self, number: str, *, reason: str | None = None, source: str = "manual") -> bool:
        e164 = to_e164(number, self.region)
        check_entry(reason, source)
        if e164 in self._entries:
            return False
        self._entries[e164] = Entry(e164, reason, source, datetime.now(UTC))
        return True

    async def remove(self, number: str) -> bool:
        return self._entries.pop(to_e164(number, self.region), None) is not None

    async def contains(self, number: str) -> bool:
        return to_e164(number, self.region) in self._entries

    async def suppressed(self, numbers: Iterable[str], *, e164: bool = False) -> set[str]:
        given = numbers_by_e164(numbers, self.region, read=not e164)
        return given_forms((e164 for e164 in given if e164 in self._entries), given)

    async def entries(self) -> AsyncIterator[Entry]:
        for number in sorted(self._entries):
            entry = self._entries.get(number)
            if entry is not None:  # not removed while the caller was busy with another
                yield entry

    async def aclose(self) -> None:
        """Nothing to let go of: the numbers stay."""
