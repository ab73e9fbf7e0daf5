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
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from smsgate.checks import is_seconds
from smsgate.journal import Claim, EntryState, JournalEntry, JournalError
from smsgate.model import Receipt, StatusReport
from smsgate.outcomes import Outcome, OutcomeStatus, reason_of

__all__ = ["SqliteJournal", "SqliteRun"]

_APPLICATION_ID = 0x534D5347  # "SMSG": marks the file as an smsgate journal
_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    provider TEXT NOT NULL,
    created REAL NOT NULL,
    sessions INTEGER NOT NULL
);
CREATE TABLE log (
    id INTEGER PRIMARY KEY,
    run INTEGER NOT NULL,
    session INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX log_by_run ON log (run, id);
CREATE TABLE inputs (
    run INTEGER NOT NULL,
    position INTEGER NOT NULL,
    digest INTEGER NOT NULL,
    session INTEGER NOT NULL,
    state INTEGER NOT NULL,
    recipient TEXT,
    reference TEXT,
    key TEXT,
    message_id TEXT,
    batch_id TEXT,
    status TEXT,
    error TEXT,
    reason TEXT,
    delivery TEXT,
    PRIMARY KEY (run, position)
) WITHOUT ROWID;
"""

# What a log row's body holds, by kind, and the SQL that folds it into ``inputs``
# (?1 the run, ?2 the session that wrote it, ?3 the body).
_CLAIM, _DISPATCH_KEYED, _DISPATCH_UNKEYED, _RECORD = 0, 1, 2, 3


def _at(i: int) -> str:
    return f"json_extract(value, '$[{i}]')"


_FOLD = {
    # [[position, digest, to, reference, key], ...]
    _CLAIM: (
        "INSERT INTO inputs (run, position, digest, session, state, recipient, reference, key)"
        f" SELECT ?1, {_at(0)}, {_at(1)}, ?2, 0, {_at(2)}, {_at(3)}, {_at(4)}"
        " FROM json_each(?3) WHERE true"
        " ON CONFLICT (run, position) DO UPDATE SET digest = excluded.digest,"
        " session = excluded.session, recipient = excluded.recipient,"
        " reference = excluded.reference, key = excluded.key"
    ),
    # [position, ...]
    _DISPATCH_KEYED: (
        "UPDATE inputs SET state = 1 WHERE run = ?1"
        " AND position IN (SELECT value FROM json_each(?3))"
    ),
    _DISPATCH_UNKEYED: (
        "UPDATE inputs SET state = 1, key = NULL WHERE run = ?1"
        " AND position IN (SELECT value FROM json_each(?3))"
    ),
    # [[state, batch_id, status, error, reason, [position or [position, message_id], ...]],
    # ...]: outcomes grouped by all they share but their positions and message ids
    _RECORD: (
        "WITH outcome AS MATERIALIZED (SELECT"
        f" {_at(0)} AS state, {_at(1)} AS batch_id, {_at(2)} AS status, {_at(3)} AS error,"
        f" {_at(4)} AS reason, {_at(5)} AS positions FROM json_each(?3))"
        " INSERT INTO inputs (run, position, digest, session, state, message_id, batch_id,"
        " status, error, reason)"
        " SELECT ?1, CASE p.type WHEN 'array' THEN json_extract(p.value, '$[0]') ELSE p.value"
        " END, 0, ?2, state, CASE p.type WHEN 'array' THEN json_extract(p.value, '$[1]') END,"
        " batch_id, status, error, reason"
        " FROM outcome, json_each(outcome.positions) AS p WHERE true"
        " ON CONFLICT (run, position) DO UPDATE SET state = excluded.state,"
        " message_id = excluded.message_id, batch_id = excluded.batch_id,"
        " status = excluded.status, error = excluded.error, reason = excluded.reason"
    ),
}
_COLUMNS = (
    "position, state, digest, session, recipient, reference, key, message_id, batch_id,"
    " status, error, reason, delivery"
)
_STATE = {
    OutcomeStatus.ACCEPTED: EntryState.ACCEPTED,
    OutcomeStatus.FAILED: EntryState.FAILED,
    OutcomeStatus.UNCERTAIN: EntryState.UNCERTAIN,
    OutcomeStatus.UNSENT: EntryState.CLAIMED,
}
_ACCEPTED = int(EntryState.ACCEPTED)
_ALONE = 2  # a dispatch of a batch commits at once; one of a single message waits a turn
_CHECKPOINT_BYTES = 2 << 20  # written to the write-ahead log before it is checkpointed
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
        self._store: _Store | None = None
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

    def store(self) -> _Store:
        """The open file (opened on first use)."""
        if self._store is None:
            self._store = _Store(self.path, self.synchronous)
        return self._store

    async def open(self, run: str, *, provider: str) -> SqliteRun:
        """Begin a session of ``run`` (see `smsgate.journal.Journal.open`)."""
        if not isinstance(run, str) or not run.strip():
            raise JournalError("run: must be a non-empty string")
        connection = self.connection()
        with _writing(self.path, connection):
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
            self._queue(_CLAIM, json.dumps(block, separators=(",", ":")))

    async def dispatch(self, positions: Sequence[int], *, keyed: bool) -> None:
        kind = _DISPATCH_KEYED if keyed else _DISPATCH_UNKEYED
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
                group = (_STATE[outcome.status], None, None, *text)
            else:
                where = outcome.index
                group = (_STATE[outcome.status], None, None)
            groups.setdefault(group, []).append(where)
            last = None
        for group, positions in groups.items():
            padded = [*group, *(None,) * (5 - len(group))]
            for start in range(0, len(positions), _BLOCK):
                body = [[*padded, positions[start : start + _BLOCK]]]
                self._queue(_RECORD, json.dumps(body, separators=(",", ":")))

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
                with _writing(self._journal.path, store.connection):
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
        with _reading(self._journal.path):
            [(last,)] = connection.execute(
                "SELECT coalesce(max(id), 0) FROM log WHERE run = ?", (self._id,)
            ).fetchall()
        while True:
            started = time.monotonic()
            with _writing(self._journal.path, connection):
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
                    connection.execute(_FOLD[kind], (self._id, session, body))
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
            with _reading(self._journal.path):
                rows = connection.execute(
                    f"SELECT {_COLUMNS} FROM inputs WHERE run = ? AND position > ?"
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
        with _reading(self._journal.path):
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
        with _writing(self._journal.path, connection):
            connection.executemany(
                "UPDATE inputs SET delivery = ? WHERE run = ? AND position = ?",
                [(report.status.value, self._id, position) for position, report in reports],
            )


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """SQLite's errors while reading, as `JournalError`."""
    try:
        yield
    except sqlite3.Error as exc:
        raise _journal_error(path, exc) from None


class _writing:
    """A write transaction, with SQLite's errors turned into `JournalError`."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self.connection = connection

    def __enter__(self) -> None:
        try:
            self.connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _journal_error(self.path, exc) from None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            try:
                self.connection.execute("COMMIT")
                return
            except sqlite3.Error as error:
                exc = error
        if self.connection.in_transaction:
            self.connection.rollback()
        if isinstance(exc, sqlite3.Error):
            raise _journal_error(self.path, exc) from None


def _journal_error(path: Path, exc: sqlite3.Error) -> JournalError:
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return JournalError(f"journal {str(path)!r} is in use by another process")
    return JournalError(f"journal {str(path)!r}: cannot use it: {exc}")


class _Store:
    """An open journal file: its connection, this process's lock on it, and a thread that
    checkpoints its write-ahead log, so that the fsyncs a checkpoint makes never hold up the
    event loop."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.path = path
        self._lock = _lock(path)
        try:
            # Where there is no file lock to take (no fcntl), SQLite's own exclusive mode
            # keeps other processes out, and checkpoints run on the event loop.
            exclusive = self._lock is None
            self.connection = _connect(path, synchronous, exclusive=exclusive)
        except BaseException:
            self._unlock()
            raise
        self._written = 0
        self._wake = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        if not exclusive:
            self._thread = threading.Thread(
                target=self._checkpoint, name="smsgate-journal-checkpoint", daemon=True
            )
            self._thread.start()

    def wrote(self, size: int) -> None:
        """Count what a commit wrote; past `_CHECKPOINT_BYTES`, wake the checkpointer."""
        self._written += size
        if self._written >= _CHECKPOINT_BYTES and self._thread is not None:
            self._written = 0
            self._wake.set()

    def _checkpoint(self) -> None:
        connection = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._closing:
                    return
                with contextlib.suppress(sqlite3.Error):  # the next one will catch up
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            connection.close()

    def close(self) -> None:
        """Stop the checkpointer, close the connection (which checkpoints what is left) and
        let go of the file."""
        if self._thread is not None:
            self._closing = True
            self._wake.set()
            self._thread.join()
        try:
            self.connection.close()
        finally:
            self._unlock()

    def _unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the lock
            self._lock = None


def _lock(path: Path) -> int | None:
    """Lock ``path`` for this process (a ``-lock`` file beside it); ``None`` where the
    platform has no ``fcntl``.

    Raises:
        JournalError: another process holds it, or it cannot be made.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        return None
    try:
        descriptor = os.open(f"{path}-lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise JournalError(f"journal {str(path)!r}: cannot open it: {exc.strerror}") from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        raise JournalError(
            f"journal {str(path)!r} is in use by another process; let it finish first"
        ) from None
    return descriptor


def _connect(path: Path, synchronous: str, *, exclusive: bool) -> sqlite3.Connection:
    """Open ``path`` and check (or make) its tables."""
    try:
        connection = sqlite3.connect(
            path, timeout=0.1, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise JournalError(f"journal {str(path)!r}: cannot open it: {exc}") from None
    try:
        if exclusive:  # the lock taken by the first write is kept until closing
            connection.execute("PRAGMA locking_mode = EXCLUSIVE")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute(f"PRAGMA synchronous = {synchronous}")
        if not exclusive:
            connection.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer's job
            connection.execute(f"PRAGMA journal_size_limit = {_CHECKPOINT_BYTES * 4}")
        connection.execute("BEGIN IMMEDIATE")
        [(application,)] = connection.execute("PRAGMA application_id").fetchall()
        [(version,)] = connection.execute("PRAGMA user_version").fetchall()
        [(tables,)] = connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
        if application == 0 and tables == 0:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA application_id = {_APPLICATION_ID}")
            connection.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        elif application != _APPLICATION_ID:
            raise JournalError(f"journal {str(path)!r} is not an smsgate journal")
        elif version != _SCHEMA_VERSION:
            raise JournalError(
                f"journal {str(path)!r} has format {version}; this smsgate reads format "
                f"{_SCHEMA_VERSION}"
            )
        connection.execute("COMMIT")
    except (sqlite3.Error, JournalError) as exc:
        connection.close()
        if isinstance(exc, JournalError):
            raise
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            raise JournalError(
                f"journal {str(path)!r} is in use by another process; let it finish first"
            ) from None
        raise JournalError(
            f"journal {str(path)!r} is not an smsgate journal, or is damaged: {exc}"
        ) from None
    return connection
