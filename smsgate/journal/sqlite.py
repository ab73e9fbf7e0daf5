"""`SqliteJournal`: the embedded journal, one SQLite file, no server.

How it stays off the critical path:

- **An append-only log of blocks.** A run's claims, dispatches and outcomes are written as one
  row per block (a JSON array: a chunk's worth of inputs), not one row per input: a block
  costs the event loop about a microsecond an input to encode and one ``INSERT`` to store.
  The log is folded into a table of one row per input, by set-based SQL inside SQLite
  (``json_each``), only when the run is read: when it is resumed, or its entries or counts
  are asked for. That happens a slice at a time (a log row holds 1,000 inputs at most), so
  the event loop never waits long.
- **Group commit.** ``dispatch`` (the one write that must be durable before a request
  leaves) commits whatever is queued with it: claims and outcomes ride along, and are
  otherwise committed within ``interval`` seconds. A dispatch of a single message waits one
  turn of the event loop first, so that the single sends in flight at once share a commit.
- **On the event loop's own thread.** SQLite's work per transaction is a handful of
  statements, so a thread would save little, and a writer thread that binds parameters
  competes with a busy event loop for the GIL (each hand-over can wait out the interpreter's
  5 ms switch interval). The standard library's ``sqlite3`` is used directly; aiosqlite would
  add that thread and its hand-overs, for no gain here.

The file is in WAL mode with ``synchronous=NORMAL`` by default: a commit survives the process
being killed (SIGKILL, the OOM killer, a crash), which is what a record of sends must survive;
the last transactions before a power cut may be lost (``synchronous="FULL"`` keeps those too,
at the cost of an fsync a transaction). The write-ahead log is checkpointed (copied into the
file, with its fsyncs) by a thread of its own with a connection of its own, never on the event
loop. One process at a time uses a file (a lock on ``<path>-lock`` beside it): another gets a
`JournalError` saying it is in use.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Literal

from smsgate.checks import is_seconds
from smsgate.journal import RECORDED_STATE, Claim, EntryState, JournalEntry, JournalError
from smsgate.journal._sqlite_schema import (
    CLAIM,
    COLUMNS,
    DISPATCH_KEYED,
    DISPATCH_UNKEYED,
    FOLD,
    RECORD,
)
from smsgate.journal._sqlite_store import Store, reading, writing
from smsgate.model import Receipt, StatusReport
from smsgate.outcomes import Outcome, reason_of

__all__ = ["SqliteJournal", "SqliteRun"]

_ACCEPTED = int(EntryState.ACCEPTED)
_ALONE = 2  # a dispatch of a batch commits at once; one of a single message waits a turn
_BLOCK = 1000  # inputs in one log row at most, so that folding one is quick
_PAGE = 1000
_SLICE = 0.004  # seconds of folding before the transaction is committed and the loop runs


class SqliteJournal:
    """The embedded `smsgate.journal.Journal`: one SQLite file, no server.

    Args:
        path: the file; made, with its tables, if it does not exist.
        synchronous: ``"NORMAL"`` (the default: every commit survives the process being
            killed) or ``"FULL"`` (it survives a power cut too, with an fsync a transaction).
        interval: seconds within which claims and outcomes are committed when no dispatch
            commits them sooner.

    Raises:
        JournalError: when first used: the file is not a journal, is damaged, or is in use by
            another process.

    Example::

        async with SqliteJournal("campaign.journal") as journal:
            summary = await smsgate.send_all(gateway, rows, journal=journal, run="december")
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        interval: float = 0.2,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise JournalError('synchronous: must be "NORMAL" or "FULL"')
        if not is_seconds(interval):
            raise JournalError("interval: must be a positive number of seconds")
        self.path = Path(path)
        self.synchronous = synchronous
        self.interval = interval
        self._store: Store | None = None
        self._runs: list[SqliteRun] = []

    def __repr__(self) -> str:
        return f"SqliteJournal({str(self.path)!r})"

    async def __aenter__(self) -> SqliteJournal:
        self.connection()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def connection(self) -> sqlite3.Connection:
        """The open connection (opened, and the file checked, on first use).

        Raises:
            JournalError: the file cannot be used.
        """
        return self.store().connection

    def store(self) -> Store:
        """The open file (opened on first use)."""
        if self._store is None:
            self._store = Store(self.path, self.synchronous)
        return self._store

    async def open(self, run: str, *, provider: str) -> SqliteRun:
        """Begin a session of ``run`` (see `smsgate.journal.Journal.open`)."""
        if not isinstance(run, str) or not run.strip():
            raise JournalError("run: must be a non-empty string")
        connection = self.connection()
        with writing(self.path, connection):
            found = connection.execute(
                "SELECT id, provider, sessions FROM runs WHERE name = ?", (run,)
            ).fetchone()
            if found is None:
                cursor = connection.execute(
                    "INSERT INTO runs (name, provider, created, sessions) VALUES (?, ?, ?, 1)",
                    (run, provider, time.time()),
                )
                assert cursor.lastrowid is not None
                run_id, session = cursor.lastrowid, 1
            else:
                run_id, began_with, sessions = found
                if began_with != provider:
                    raise JournalError(
                        f"run {run!r} was begun through {began_with}, not {provider}: its "
                        f"uncertain messages can only be looked up there; resume it through "
                        f"{began_with}, or start a new run"
                    )
                session = sessions + 1
                connection.execute("UPDATE runs SET sessions = ? WHERE id = ?", (session, run_id))
        opened = SqliteRun(self, run, run_id, session)
        await opened.fold()  # what a killed session left unfolded
        last = connection.execute(
            "SELECT max(position) FROM inputs WHERE run = ?", (run_id,)
        ).fetchone()[0]
        opened.last_position = -1 if last is None else last
        self._runs.append(opened)
        return opened

    async def runs(self) -> list[str]:
        """The ids of the runs it holds, oldest first."""
        rows = self.connection().execute("SELECT name FROM runs ORDER BY id").fetchall()
        return [name for (name,) in rows]

    async def aclose(self) -> None:
        """Commit what is queued, and close the file. (A run that could not be written has
        said so already, to whoever wrote to it: closing does not say it again.)"""
        runs, self._runs = self._runs, []
        try:
            for run in runs:
                with contextlib.suppress(JournalError):
                    await run.flush()
                run.closed = True
        finally:
            store, self._store = self._store, None
            if store is not None:
                await asyncio.to_thread(store.close)  # its last checkpoint is no pause of ours


class SqliteRun:
    """One run in a `SqliteJournal` (see `smsgate.journal.JournalRun`)."""

    def __init__(self, journal: SqliteJournal, name: str, run_id: int, session: int) -> None:
        self._journal = journal
        self._name = name
        self._id = run_id
        self._session = session
        self.last_position = -1
        self._pending: list[tuple[int, int, int, str]] = []
        self._next: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._broken: JournalError | None = None
        self.closed = False  # its journal was closed: nothing more is written

    def __repr__(self) -> str:
        return f"SqliteRun({self._name!r}, session={self._session})"

    @property
    def name(self) -> str:
        return self._name

    @property
    def session(self) -> int:
        return self._session

    # -- writing ---------------------------------------------------------------------------

    def claim(self, claims: Sequence[Claim]) -> None:
        for start in range(0, len(claims), _BLOCK):  # a Claim is a tuple: a JSON array
            block = claims[start : start + _BLOCK]
            self._queue(CLAIM, json.dumps(block, separators=(",", ":")))

    async def dispatch(self, positions: Sequence[int], *, keyed: bool) -> None:
        kind = DISPATCH_KEYED if keyed else DISPATCH_UNKEYED
        for start in range(0, len(positions), _BLOCK):
            block = list(positions[start : start + _BLOCK])
            self._queue(kind, json.dumps(block, separators=(",", ":")))
        if len(positions) >= _ALONE and self._next is None:
            # A batch commits now: waiting a turn of the loop for others would only delay it.
            self._commit()
            if self._broken is not None:
                raise self._broken
            return
        await self._commit_soon()

    def record(self, outcomes: Sequence[Outcome]) -> None:
        # The key an input's request carried is known from its claim and dispatch already.
        groups: dict[tuple[Any, ...], list[Any]] = {}
        said: dict[int, tuple[str, str]] = {}  # one text per error, however many share it
        last: Receipt | None = None
        positions: list[Any] = []
        for outcome in outcomes:
            receipt, error = outcome.receipt, outcome.error
            if receipt is not None:
                if receipt.message_id is None:
                    # A batch's receipts share all but their recipient: the common case.
                    if last is None or not (
                        receipt.batch_id == last.batch_id and receipt.status is last.status
                    ):
                        last = receipt
                        group: tuple[Any, ...] = (_ACCEPTED, receipt.batch_id, receipt.status.value)
                        positions = groups.setdefault(group, [])
                    positions.append(outcome.index)
                    continue
                where: Any = (outcome.index, receipt.message_id)
                group = (_ACCEPTED, receipt.batch_id, receipt.status.value)
            elif error is not None:
                where = outcome.index
                text = said.get(id(error))
                if text is None:
                    text = said[id(error)] = (str(error), reason_of(error))
                group = (RECORDED_STATE[outcome.status], None, None, *text)
            else:
                where = outcome.index
                group = (RECORDED_STATE[outcome.status], None, None)
            groups.setdefault(group, []).append(where)
            last = None
        for group, positions in groups.items():
            padded = [*group, *(None,) * (5 - len(group))]
            for start in range(0, len(positions), _BLOCK):
                body = [[*padded, positions[start : start + _BLOCK]]]
                self._queue(RECORD, json.dumps(body, separators=(",", ":")))

    async def flush(self) -> None:
        if self._pending or self._next is not None:
            await self._commit_soon()
        if self._broken is not None:
            raise self._broken

    def _queue(self, kind: int, body: str) -> None:
        if self._broken is not None or self.closed:
            return  # the next dispatch or flush says why
        self._pending.append((self._id, self._session, kind, body))
        if self._timer is None and self._next is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._journal.interval, self._commit)

    async def _commit_soon(self) -> None:
        """Wait for the transaction the next turn of the event loop commits."""
        if self._next is None:
            loop = asyncio.get_running_loop()
            self._next = loop.create_future()
            loop.call_soon(self._commit)
        await asyncio.shield(self._next)

    def _commit(self) -> None:
        future, self._next = self._next, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, []
        try:
            if self.closed:
                raise JournalError(f"journal {str(self._journal.path)!r} was closed")
            if self._broken is not None:
                raise self._broken
            if pending:
                store = self._journal.store()
                with writing(self._journal.path, store.connection):
                    store.connection.executemany(
                        "INSERT INTO log (run, session, kind, body) VALUES (?, ?, ?, ?)", pending
                    )
                store.wrote(sum(len(row[3]) for row in pending))
        except JournalError as exc:
            self._broken = exc
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        if future is not None and not future.done():
            future.set_result(None)

    # -- reading ---------------------------------------------------------------------------

    async def fold(self) -> None:
        """Fold the run's log into one row per input, a slice at a time (at least one log row
        a slice, however slow the machine)."""
        await self.flush()
        store = self._journal.store()
        connection = store.connection
        with reading(self._journal.path):
            [(last,)] = connection.execute(
                "SELECT coalesce(max(id), 0) FROM log WHERE run = ?", (self._id,)
            ).fetchall()
        while True:
            started = time.monotonic()
            with writing(self._journal.path, connection):
                done = 0
                while done == 0 or time.monotonic() - started < _SLICE:
                    row = connection.execute(
                        "SELECT id, session, kind, body FROM log WHERE run = ? AND id <= ?"
                        " ORDER BY id LIMIT 1",
                        (self._id, last),
                    ).fetchone()
                    if row is None:
                        break
                    log_id, session, kind, body = row
                    connection.execute(
                        FOLD[kind], {"run": self._id, "session": session, "body": body}
                    )
                    connection.execute("DELETE FROM log WHERE id = ?", (log_id,))
                    done += 1
            store.wrote(done * _BLOCK * 100)  # about what a slice rewrites
            if row is None:
                return
            await asyncio.sleep(0)

    async def entries(self, *, upto: int | None = None) -> AsyncIterator[JournalEntry]:
        await self.fold()
        connection = self._journal.connection()
        after, last = -1, (2**63 - 1) if upto is None else upto
        while True:
            with reading(self._journal.path):
                rows = connection.execute(
                    f"SELECT {COLUMNS} FROM inputs WHERE run = ? AND position > ?"
                    " AND position <= ? ORDER BY position LIMIT ?",
                    (self._id, after, last, _PAGE),
                ).fetchall()
            for row in rows:
                yield JournalEntry(row[0], EntryState(row[1]), *row[2:])
            if len(rows) < _PAGE:
                return
            after = rows[-1][0]
            await asyncio.sleep(0)  # a page at a time: the event loop runs in between

    async def counts(self) -> dict[EntryState, int]:
        await self.fold()
        with reading(self._journal.path):
            rows = (
                self._journal.connection()
                .execute(
                    "SELECT state, count(*) FROM inputs WHERE run = ? GROUP BY state", (self._id,)
                )
                .fetchall()
            )
        counts = dict.fromkeys(EntryState, 0)
        counts.update({EntryState(state): n for state, n in rows})
        return counts

    async def record_delivery(self, reports: Sequence[tuple[int, StatusReport]]) -> None:
        await self.fold()
        connection = self._journal.connection()
        with writing(self._journal.path, connection):
            connection.executemany(
                "UPDATE inputs SET delivery = ? WHERE run = ? AND position = ?",
                [(report.status.value, self._id, position) for position, report in reports],
            )
