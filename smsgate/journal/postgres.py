"""`PostgresJournal`: the journal in PostgreSQL, for runs spread over many processes and
machines (``pip install "smsgate[postgres]"``).

It keeps the same three steps and the same promises as `smsgate.journal.sqlite.SqliteJournal`
(see `smsgate.journal`), with what a shared server needs besides:

- **One session of a run at a time, wherever it runs.** Opening a run takes a session-level
  advisory lock on it, on a connection of its own that the session keeps until it is closed.
  A second process opening the same run gets a `JournalInUse` at once. A process that dies
  loses its connection, and PostgreSQL lets the lock go with it: the run can be resumed by
  any other process as soon as the server has noticed, with nothing to clean up by hand.
- **Row-level, set-based writes.** Each input is a row keyed by (run, position); claims,
  dispatches and outcomes are written a block at a time as arrays (``unnest``), so a request
  of 5,000 messages costs one statement, not 5,000. Runs never touch each other's rows, and
  the one row they share per run (its session count) is updated atomically.
- **Group commit.** As in the SQLite journal, ``dispatch`` commits everything queued with
  it (claims and outcomes ride along), and is durable when it returns: the request may
  leave. Otherwise queued writes are committed within ``interval`` seconds. Commits of one
  run are made one after another, in order, on its connection.

psycopg 3 is the driver: procrastinate, the job queue on PostgreSQL that can run a campaign's
chunks as jobs, uses it too, so one installation serves both.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

from smsgate.checks import is_seconds
from smsgate.journal import (
    RECORDED_STATE,
    Claim,
    EntryState,
    JournalEntry,
    JournalError,
    JournalInUse,
)
from smsgate.model import StatusReport
from smsgate.outcomes import Outcome, reason_of

try:
    import psycopg
    from psycopg import sql
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError(
        'smsgate.journal.postgres needs psycopg 3: pip install "smsgate[postgres]"'
    ) from exc

__all__ = ["PostgresJournal", "PostgresRun"]

_PAGE = 1000
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_LOCK_SPACE = 0x534D5347  # "SMSG": the first key of every advisory lock this journal takes

_TABLES = """
CREATE TABLE IF NOT EXISTS {schema}.runs (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    provider text NOT NULL,
    created timestamptz NOT NULL DEFAULT now(),
    sessions integer NOT NULL
);
CREATE TABLE IF NOT EXISTS {schema}.inputs (
    run bigint NOT NULL REFERENCES {schema}.runs (id) ON DELETE CASCADE,
    position bigint NOT NULL,
    digest bigint NOT NULL,
    session integer NOT NULL,
    state smallint NOT NULL,
    recipient text,
    reference text,
    key text,
    message_id text,
    batch_id text,
    status text,
    error text,
    reason text,
    delivery text,
    PRIMARY KEY (run, position)
);
"""
_COLUMNS = (
    "position, state, digest, session, recipient, reference, key, message_id, batch_id,"
    " status, error, reason, delivery"
)
_CLAIM = (
    "INSERT INTO {schema}.inputs"
    " (run, position, digest, session, state, recipient, reference, key)"
    " SELECT %s, c.position, c.digest, %s, 0, c.recipient, c.reference, c.key"
    " FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::text[])"
    " AS c (position, digest, recipient, reference, key)"
    " ON CONFLICT (run, position) DO UPDATE SET digest = excluded.digest,"
    " session = excluded.session, recipient = excluded.recipient,"
    " reference = excluded.reference, key = excluded.key"
)
_DISPATCH = "UPDATE {schema}.inputs SET state = 1 WHERE run = %s AND position = ANY(%s)"
_DISPATCH_UNKEYED = (
    "UPDATE {schema}.inputs SET state = 1, key = NULL WHERE run = %s AND position = ANY(%s)"
)
_RECORD = (
    "UPDATE {schema}.inputs AS i SET state = o.state, message_id = o.message_id,"
    " batch_id = o.batch_id, status = o.status, error = o.error, reason = o.reason"
    " FROM unnest(%s::bigint[], %s::smallint[], %s::text[], %s::text[], %s::text[],"
    " %s::text[], %s::text[])"
    " AS o (position, state, message_id, batch_id, status, error, reason)"
    " WHERE i.run = %s AND i.position = o.position"
)


def _identifier(schema: str) -> sql.Identifier:
    if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
        raise JournalError(
            f"schema: {schema!r} is not a plain PostgreSQL name (lower-case letters, digits "
            "and _, not starting with a digit, at most 63)"
        )
    return sql.Identifier(schema)


class PostgresJournal:
    """A `smsgate.journal.Journal` in PostgreSQL, shared by every process that sends.

    Args:
        conninfo: how to connect (``"postgresql://user@host/db"`` or
            ``"host=... dbname=..."``), as psycopg takes it.
        schema: the schema its tables live in; made, with them, if missing.
        interval: seconds within which claims and outcomes are committed when no dispatch
            commits them sooner.

    Raises:
        JournalError: when first used: the server cannot be reached or written.

    Example::

        async with PostgresJournal("postgresql://localhost/sms") as journal:
            summary = await smsgate.send_all(gateway, rows, journal=journal, run="december")
    """

    def __init__(self, conninfo: str, *, schema: str = "smsgate", interval: float = 0.2) -> None:
        if not isinstance(conninfo, str) or not conninfo.strip():
            raise JournalError("conninfo: must say how to connect to PostgreSQL")
        if not is_seconds(interval):
            raise JournalError("interval: must be a positive number of seconds")
        self.conninfo = conninfo
        self.schema = schema
        self.interval = interval
        self._schema = _identifier(schema)
        self._ready = False
        self._runs: list[PostgresRun] = []
        self._statements: dict[str, sql.Composed] = {}

    def __repr__(self) -> str:
        # The conninfo may hold a password: only the schema is shown.
        return f"PostgresJournal(schema={self.schema!r})"

    async def __aenter__(self) -> PostgresJournal:
        await self.setup()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def statement(self, template: str) -> sql.Composed:
        """``template`` with this journal's schema in place of ``{schema}``."""
        composed = self._statements.get(template)
        if composed is None:
            composed = sql.SQL(template).format(schema=self._schema)
            self._statements[template] = composed
        return composed

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        """A new connection to the journal's server.

        Raises:
            JournalError: it cannot be reached.
        """
        try:
            return await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        except psycopg.Error as exc:
            raise JournalError(f"cannot connect to the journal's PostgreSQL: {exc}") from None

    async def setup(self) -> None:
        """Make the schema and tables if they are missing (once; `open` calls it)."""
        if self._ready:
            return
        async with await self.connect() as connection:
            try:
                async with connection.transaction():
                    # Two processes setting up at once: one makes the tables, the other waits.
                    await connection.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_LOCK_SPACE,))
                    await connection.execute(
                        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(self._schema)
                    )
                    await connection.execute(self.statement(_TABLES))
            except psycopg.Error as exc:
                raise JournalError(f"cannot set the journal's tables up: {exc}") from None
        self._ready = True

    async def open(self, run: str, *, provider: str) -> PostgresRun:
        """Begin a session of ``run`` (see `smsgate.journal.Journal.open`).

        Raises:
            JournalError: as `smsgate.journal.Journal.open` says, or a session of ``run`` is
                open in another process (or elsewhere in this one).
        """
        if not isinstance(run, str) or not run.strip():
            raise JournalError("run: must be a non-empty string")
        await self.setup()
        connection = await self.connect()
        try:
            opened = await self._begin(connection, run, provider)
        except BaseException:
            await connection.close()
            raise
        self._runs.append(opened)
        return opened

    async def _begin(
        self, connection: psycopg.AsyncConnection[Any], run: str, provider: str
    ) -> PostgresRun:
        try:
            async with connection.transaction():
                await connection.execute(
                    self.statement(
                        "INSERT INTO {schema}.runs (name, provider, sessions)"
                        " VALUES (%s, %s, 0) ON CONFLICT (name) DO NOTHING"
                    ),
                    (run, provider),
                )
                cursor = await connection.execute(
                    self.statement("SELECT id, provider FROM {schema}.runs WHERE name = %s"),
                    (run,),
                )
                run_id, began_with = await _one(cursor)
            if began_with != provider:
                raise JournalError(
                    f"run {run!r} was begun through {began_with}, not {provider}: its "
                    f"uncertain messages can only be looked up there; resume it through "
                    f"{began_with}, or start a new run"
                )
            # Advisory locks belong to the whole database: the key is the schema's and the
            # run's, so that runs of journals in other schemas never hold each other up.
            cursor = await connection.execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, %s))",
                (f"{self.schema}\x1f{run_id}", _LOCK_SPACE),
            )
            if not (await _one(cursor))[0]:
                raise JournalInUse(
                    f"run {run!r} is in use by another process (or elsewhere in this one): "
                    "one session of a run at a time"
                )
            cursor = await connection.execute(
                self.statement(
                    "UPDATE {schema}.runs SET sessions = sessions + 1 WHERE id = %s"
                    " RETURNING sessions"
                ),
                (run_id,),
            )
            (session,) = await _one(cursor)
            cursor = await connection.execute(
                self.statement("SELECT max(position) FROM {schema}.inputs WHERE run = %s"),
                (run_id,),
            )
            (last,) = await _one(cursor)
        except psycopg.Error as exc:
            raise JournalError(f"cannot open run {run!r}: {exc}") from None
        return PostgresRun(self, connection, run, run_id, session, -1 if last is None else last)

    async def runs(self) -> list[str]:
        """The ids of the runs it holds, oldest first."""
        await self.setup()
        async with await self.connect() as connection:
            try:
                cursor = await connection.execute(
                    self.statement("SELECT name FROM {schema}.runs ORDER BY id")
                )
                return [name for (name,) in await cursor.fetchall()]
            except psycopg.Error as exc:
                raise JournalError(f"cannot read the journal's runs: {exc}") from None

    async def aclose(self) -> None:
        """Commit what is queued, and close every run's connection (which lets go of its
        lock)."""
        runs, self._runs = self._runs, []
        for run in runs:
            await run.close()


class PostgresRun:
    """One session of a run in a `PostgresJournal` (see `smsgate.journal.JournalRun`)."""

    def __init__(
        self,
        journal: PostgresJournal,
        connection: psycopg.AsyncConnection[Any],
        name: str,
        run_id: int,
        session: int,
        last_position: int,
    ) -> None:
        self._journal = journal
        self._connection = connection
        self._name = name
        self._id = run_id
        self._session = session
        self.last_position = last_position
        self._pending: list[tuple[sql.Composed, tuple[Any, ...]]] = []
        self._writing = asyncio.Lock()  # one transaction at a time, in order
        self._timer: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._broken: JournalError | None = None
        self.closed = False

    def __repr__(self) -> str:
        return f"PostgresRun({self._name!r}, session={self._session})"

    @property
    def name(self) -> str:
        return self._name

    @property
    def session(self) -> int:
        return self._session

    # -- writing ---------------------------------------------------------------------------

    def claim(self, claims: Sequence[Claim]) -> None:
        if not claims:
            return
        columns = list(zip(*claims, strict=True))
        positions, digests, recipients, references, keys = (list(c) for c in columns)
        self._queue(
            _CLAIM,
            (self._id, self._session, positions, digests, recipients, references, keys),
        )

    async def dispatch(self, positions: Sequence[int], *, keyed: bool) -> None:
        self._queue(_DISPATCH if keyed else _DISPATCH_UNKEYED, (self._id, list(positions)))
        await self.flush()

    def record(self, outcomes: Sequence[Outcome]) -> None:
        if not outcomes:
            return
        said: dict[int, tuple[str, str]] = {}  # one text per error, however many share it
        columns: tuple[list[Any], ...] = ([], [], [], [], [], [], [])
        positions, states, message_ids, batch_ids, statuses, errors, reasons = columns
        for outcome in outcomes:
            receipt, error = outcome.receipt, outcome.error
            positions.append(outcome.index)
            states.append(int(RECORDED_STATE[outcome.status]))
            message_ids.append(None if receipt is None else receipt.message_id)
            batch_ids.append(None if receipt is None else receipt.batch_id)
            statuses.append(None if receipt is None else receipt.status.value)
            if receipt is None and error is not None:
                text = said.get(id(error))
                if text is None:
                    text = said[id(error)] = (str(error), reason_of(error))
                errors.append(text[0])
                reasons.append(text[1])
            else:
                errors.append(None)
                reasons.append(None)
        self._queue(_RECORD, (*columns, self._id))

    async def flush(self) -> None:
        """Commit everything queued; return once it is durable (also what a commit under
        way holds: it is waited for)."""
        await self._commit()
        if self._broken is not None:
            raise self._broken

    def _queue(self, template: str, parameters: tuple[Any, ...]) -> None:
        if self._broken is not None or self.closed:
            return  # the next dispatch or flush says why
        self._pending.append((self._journal.statement(template), parameters))
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._journal.interval, self._commit_later)

    def _commit_later(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self._commit())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _commit(self) -> None:
        async with self._writing:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            pending, self._pending = self._pending, []
            if not pending or self._broken is not None:
                return
            if self.closed:
                self._broken = JournalError(f"run {self._name!r}: its journal was closed")
                return
            try:
                async with self._connection.transaction(), self._connection.cursor() as cursor:
                    for statement, parameters in pending:
                        await cursor.execute(statement, parameters)
            except psycopg.Error as exc:
                self._broken = JournalError(f"run {self._name!r} could not be recorded: {exc}")

    async def close(self) -> None:
        """Commit what is queued, and close the connection (letting go of the run's lock).
        (A run that could not be written has said so already, to whoever wrote to it.)"""
        if self.closed:
            return
        with contextlib.suppress(JournalError):
            await self.flush()
        for task in list(self._background):
            with contextlib.suppress(Exception):
                await task
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self._connection.close()

    # -- reading ---------------------------------------------------------------------------

    async def _rows(self, template: str, parameters: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        await self.flush()
        async with self._writing:
            try:
                cursor = await self._connection.execute(
                    self._journal.statement(template), parameters
                )
                return await cursor.fetchall()
            except psycopg.Error as exc:
                raise JournalError(f"run {self._name!r} could not be read: {exc}") from None

    async def entries(self, *, upto: int | None = None) -> AsyncIterator[JournalEntry]:
        after, last = -1, (2**63 - 1) if upto is None else upto
        while True:
            rows = await self._rows(
                f"SELECT {_COLUMNS} FROM {{schema}}.inputs WHERE run = %s AND position > %s"
                " AND position <= %s ORDER BY position LIMIT %s",
                (self._id, after, last, _PAGE),
            )
            for row in rows:
                yield JournalEntry(row[0], EntryState(row[1]), *row[2:])
            if len(rows) < _PAGE:
                return
            after = rows[-1][0]

    async def counts(self) -> dict[EntryState, int]:
        rows = await self._rows(
            "SELECT state, count(*) FROM {schema}.inputs WHERE run = %s GROUP BY state",
            (self._id,),
        )
        counts = dict.fromkeys(EntryState, 0)
        counts.update({EntryState(state): n for state, n in rows})
        return counts

    async def record_delivery(self, reports: Sequence[tuple[int, StatusReport]]) -> None:
        self._queue(
            "UPDATE {schema}.inputs AS i SET delivery = d.delivery"
            " FROM unnest(%s::bigint[], %s::text[]) AS d (position, delivery)"
            " WHERE i.run = %s AND i.position = d.position",
            (
                [position for position, _ in reports],
                [report.status.value for _, report in reports],
                self._id,
            ),
        )
        await self.flush()


async def _one(cursor: psycopg.AsyncCursor[Any]) -> tuple[Any, ...]:
    row = await cursor.fetchone()
    assert row is not None
    return tuple(row)
