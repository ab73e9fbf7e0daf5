"""`SqliteSuppressionList`: a suppression list in one SQLite file, no server.

- **Shared by the processes of a machine.** The file is in WAL mode: any number of processes
  (a webhook receiver adding the numbers that reply STOP, bulk senders reading the list) use
  it at once; readers never wait for a writer, and a writer waits up to 10 seconds for
  another's write to finish. Each change is one statement, so each is atomic, and each is
  on disk when the call returns (``synchronous=FULL``: an opt-out is a legal record, and
  writes are rare).
- **Off the event loop.** Every statement runs on a thread of the list's own (one thread, so
  the connection is used by one thread at a time). Reading 5,000 numbers takes a few
  milliseconds, and a write may wait for another process's: on the event loop's thread,
  either would hold up every other task; handed to a thread it costs one hand-over a call.
- **One query a batch.** `SqliteSuppressionList.suppressed` sends its numbers as one JSON
  array, read by SQLite's ``json_each`` and looked up on the table's primary key.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self, TypeVar

from smsgate.suppression._base import (
    Entry,
    SuppressionError,
    check_entry,
    given_forms,
    numbers_by_e164,
    read_region,
    to_e164,
)

__all__ = ["SqliteSuppressionList"]

_T = TypeVar("_T")

APPLICATION_ID = 0x534D5353  # "SMSS": marks the file as an smsgate suppression list
FORMAT = 1  # the file's user_version
_WAIT = 10.0  # seconds a write waits for another process's
_PAGE = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

_TABLE = """
CREATE TABLE suppressed (
    number TEXT PRIMARY KEY,   -- E.164
    reason TEXT,
    source TEXT NOT NULL,
    added INTEGER NOT NULL     -- microseconds since 1970-01-01 UTC
) WITHOUT ROWID
"""


class SqliteSuppressionList:
    """A `smsgate.suppression.SuppressionList` in one SQLite file, which the processes of a
    machine can share.

    Args:
        path: the file; made, with its table, on first use if it does not exist.
        region: the country national numbers belong to (``"GB"``); ``None``: every number
            must be written with its country code.

    Raises:
        ValidationError: ``region`` is not a two-letter region code.
        SuppressionError: when first used: the file is not a suppression list, is damaged,
            or cannot be opened.

    Example::

        async with SqliteSuppressionList("/var/lib/sms/optouts.sqlite") as suppression:
            await suppression.add("+447700900123", reason="STOP", source="inbound")
    """

    def __init__(self, path: str | os.PathLike[str], *, region: str | None = None) -> None:
        self.path = Path(path)
        self.region = read_region(region)
        self._executor: ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None  # only on the list's thread

    def __repr__(self) -> str:
        return f"SqliteSuppressionList({str(self.path)!r})"

    async def __aenter__(self) -> Self:
        await self._call(lambda connection: None)  # opened, and the file checked, now
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def add(self, number: str, *, reason: str | None = None, source: str = "manual") -> bool:
        e164 = to_e164(number, self.region)
        check_entry(reason, source)
        added = (datetime.now(UTC) - _EPOCH) // _MICROSECOND

        def adding(connection: sqlite3.Connection) -> bool:
            cursor = connection.execute(
                "INSERT INTO suppressed (number, reason, source, added) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (number) DO NOTHING",
                (e164, reason, source, added),
            )
            return cursor.rowcount == 1

        return await self._call(adding)

    async def remove(self, number: str) -> bool:
        e164 = to_e164(number, self.region)

        def removing(connection: sqlite3.Connection) -> bool:
            cursor = connection.execute("DELETE FROM suppressed WHERE number = ?", (e164,))
            return cursor.rowcount == 1

        return await self._call(removing)

    async def contains(self, number: str) -> bool:
        e164 = to_e164(number, self.region)

        def finding(connection: sqlite3.Connection) -> bool:
            found = connection.execute("SELECT 1 FROM suppressed WHERE number = ?", (e164,))
            return found.fetchone() is not None

        return await self._call(finding)

    async def suppressed(self, numbers: Iterable[str], *, e164: bool = False) -> set[str]:
        given = numbers_by_e164(numbers, self.region, read=not e164)
        if not given:
            return set()
        wanted = json.dumps(list(given), separators=(",", ":"))

        def finding(connection: sqlite3.Connection) -> list[tuple[str]]:
            return connection.execute(
                "SELECT number FROM suppressed WHERE number IN (SELECT value FROM json_each(?))",
                (wanted,),
            ).fetchall()

        return given_forms((number for (number,) in await self._call(finding)), given)

    async def entries(self) -> AsyncIterator[Entry]:
        after = ""
        while True:
            rows = await self._call(functools.partial(_page, after=after))
            for number, reason, source, added in rows:
                yield Entry(number, reason, source, _EPOCH + added * _MICROSECOND)
            if len(rows) < _PAGE:
                return
            after = rows[-1][0]

    async def aclose(self) -> None:
        """Close the file, and stop the list's thread (a list used again opens it again)."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(executor, self._close)
        finally:
            executor.shutdown(wait=False)  # its one thread is idle now, and ends

    async def _call(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` with the open connection, on the list's thread."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="smsgate-suppression")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, work)

    def _run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        try:
            if self._connection is None:
                self._connection = _open(self.path)
            return work(self._connection)
        except sqlite3.Error as exc:
            raise _error(self.path, exc) from None

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


def _page(connection: sqlite3.Connection, *, after: str) -> list[tuple[Any, ...]]:
    """The entries after the number ``after``, a page of them."""
    return connection.execute(
        "SELECT number, reason, source, added FROM suppressed WHERE number > ?"
        " ORDER BY number LIMIT ?",
        (after, _PAGE),
    ).fetchall()


def _error(path: Path, exc: sqlite3.Error) -> SuppressionError:
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return SuppressionError(
            f"suppression list {str(path)!r}: another process has been writing it for "
            f"{_WAIT:g} s; try again"
        )
    return SuppressionError(f"suppression list {str(path)!r}: cannot use it: {exc}")


def _open(path: Path) -> sqlite3.Connection:
    """Open ``path``, and check (or make) its table."""
    connection = sqlite3.connect(path, timeout=_WAIT, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute("BEGIN IMMEDIATE")  # two processes making the table: one does
        [(application,)] = connection.execute("PRAGMA application_id").fetchall()
        [(version,)] = connection.execute("PRAGMA user_version").fetchall()
        [(tables,)] = connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
        if application == 0 and tables == 0:
            connection.execute(_TABLE)
            connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            connection.execute(f"PRAGMA user_version = {FORMAT}")
        elif application != APPLICATION_ID:
            raise SuppressionError(
                f"{str(path)!r} is not an smsgate suppression list (it holds something else)"
            )
        elif version != FORMAT:
            raise SuppressionError(
                f"suppression list {str(path)!r} has format {version}; this smsgate reads "
                f"format {FORMAT}"
            )
        connection.execute("COMMIT")
    except BaseException:
        connection.close()
        raise
    return connection
