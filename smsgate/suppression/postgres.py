"""`PostgresSuppressionList`: a suppression list in PostgreSQL, shared by every process and
machine that sends or receives (``pip install "smsgate[postgres]"``).

One table, ``suppressed``, keyed by the number in E.164, in a schema of its own choosing
(``smsgate`` by default, beside the journal's and the campaigns' tables); it is made on first
use. Each change is one statement (``INSERT ... ON CONFLICT DO NOTHING``, ``DELETE``), so it is
atomic and idempotent however many processes make it at once, and
`PostgresSuppressionList.suppressed` is one query (``number = ANY(%s)``, an array of the
numbers) however many numbers it is asked about. The list keeps one connection, opened on
first use and again after it was lost.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any, Self

from smsgate.errors import ValidationError
from smsgate.suppression._base import (
    Entry,
    SuppressionError,
    check_entry,
    given_forms,
    numbers_by_e164,
    read_region,
    to_e164,
)

try:
    import psycopg
    from psycopg import sql
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError(
        'smsgate.suppression.postgres needs psycopg 3: pip install "smsgate[postgres]"'
    ) from exc

__all__ = ["PostgresSuppressionList"]

_PAGE = 1000
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_LOCK = 0x534D5355  # "SMSU": with the schema's hash, the lock taken while the table is made

_TABLE = """
CREATE TABLE IF NOT EXISTS {schema}.suppressed (
    number text PRIMARY KEY,
    reason text,
    source text NOT NULL,
    added timestamptz NOT NULL
)
"""


class PostgresSuppressionList:
    """A `smsgate.suppression.SuppressionList` in PostgreSQL, shared by every process.

    Args:
        conninfo: how to connect (``"postgresql://user@host/db"`` or ``"host=... dbname=..."``),
            as psycopg takes it.
        schema: the schema its table lives in; made, with the table, if missing.
        region: the country national numbers belong to (``"GB"``); ``None``: every number
            must be written with its country code.

    Raises:
        ValidationError: ``schema`` is not a plain PostgreSQL name, or ``region`` is not a
            two-letter region code.
        SuppressionError: when used: the server cannot be reached, read or written.

    Example::

        async with PostgresSuppressionList("postgresql://localhost/sms") as suppression:
            refused = await suppression.suppressed(message.to for message in chunk)
    """

    def __init__(
        self, conninfo: str, *, schema: str = "smsgate", region: str | None = None
    ) -> None:
        if not isinstance(conninfo, str) or not conninfo.strip():
            raise ValidationError("conninfo", "must say how to connect to PostgreSQL")
        if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
            raise ValidationError(
                "schema",
                f"{schema!r} is not a plain PostgreSQL name (lower-case letters, digits and _, "
                "not starting with a digit, at most 63)",
            )
        self.conninfo = conninfo
        self.schema = schema
        self.region = read_region(region)
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._using = asyncio.Lock()  # one statement at a time on the connection
        self._ready = False
        self._statements: dict[str, sql.Composed] = {}

    def __repr__(self) -> str:
        # The conninfo may hold a password: only the schema is shown.
        return f"PostgresSuppressionList(schema={self.schema!r})"

    async def __aenter__(self) -> Self:
        async with self._using:
            await self._connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def add(self, number: str, *, reason: str | None = None, source: str = "manual") -> bool:
        e164 = to_e164(number, self.region)
        check_entry(reason, source)
        count, _ = await self._execute(
            "INSERT INTO {schema}.suppressed (number, reason, source, added)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (number) DO NOTHING",
            (e164, reason, source, datetime.now(UTC)),
        )
        return count == 1

    async def remove(self, number: str) -> bool:
        e164 = to_e164(number, self.region)
        count, _ = await self._execute("DELETE FROM {schema}.suppressed WHERE number = %s", (e164,))
        return count == 1

    async def contains(self, number: str) -> bool:
        e164 = to_e164(number, self.region)
        _, rows = await self._execute(
            "SELECT 1 FROM {schema}.suppressed WHERE number = %s", (e164,)
        )
        return bool(rows)

    async def suppressed(self, numbers: Iterable[str], *, e164: bool = False) -> set[str]:
        given = numbers_by_e164(numbers, self.region, read=not e164)
        if not given:
            return set()
        _, rows = await self._execute(
            "SELECT number FROM {schema}.suppressed WHERE number = ANY(%s)", (list(given),)
        )
        return given_forms((number for (number,) in rows), given)

    async def entries(self) -> AsyncIterator[Entry]:
        after = ""
        while True:
            _, rows = await self._execute(
                "SELECT number, reason, source, added FROM {schema}.suppressed"
                " WHERE number > %s ORDER BY number LIMIT %s",
                (after, _PAGE),
            )
            for number, reason, source, added in rows:
                yield Entry(number, reason, source, added.astimezone(UTC))
            if len(rows) < _PAGE:
                return
            after = rows[-1][0]

    async def aclose(self) -> None:
        """Close the connection (a list used again opens another)."""
        async with self._using:
            connection, self._connection = self._connection, None
            if connection is not None:
                await connection.close()

    def _statement(self, template: str) -> sql.Composed:
        composed = self._statements.get(template)
        if composed is None:
            composed = sql.SQL(template).format(schema=sql.Identifier(self.schema))
            self._statements[template] = composed
        return composed

    async def _execute(
        self, template: str, parameters: tuple[Any, ...]
    ) -> tuple[int, list[tuple[Any, ...]]]:
        """Run one statement; the rows it changed, and those it returned. A connection found
        lost (the server restarted since the last call) is opened again, and the statement
        run again: each is idempotent."""
        statement = self._statement(template)
        async with self._using:
            connection = await self._connect()
            try:
                return await _run(connection, statement, parameters)
            except psycopg.Error as exc:
                if not connection.closed:
                    raise self._unusable(exc) from None
            try:
                return await _run(await self._connect(), statement, parameters)
            except psycopg.Error as exc:
                raise self._unusable(exc) from None

    def _unusable(self, exc: psycopg.Error) -> SuppressionError:
        return SuppressionError(
            f"the suppression list in schema {self.schema!r} cannot be used: {exc}"
        )

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        """The open connection: opened (and the table made) if there is none, or it was
        lost."""
        if self._connection is not None and not self._connection.closed:
            return self._connection
        try:
            connection = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        except psycopg.Error as exc:
            raise SuppressionError(
                f"cannot connect to the suppression list's PostgreSQL: {exc}"
            ) from None
        try:
            if not self._ready:
                await self._setup(connection)
                self._ready = True
        except BaseException:
            await connection.close()
            raise
        self._connection = connection
        return connection

    async def _setup(self, connection: psycopg.AsyncConnection[Any]) -> None:
        """Make the schema and the table if they are missing."""
        for attempt in range(2):
            try:
                async with connection.transaction():
                    # Two processes setting up at once: one makes the table, the other waits.
                    await connection.execute(
                        "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK, self.schema)
                    )
                    await connection.execute(
                        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                            sql.Identifier(self.schema)
                        )
                    )
                    await connection.execute(self._statement(_TABLE))
                return
            except psycopg.Error as exc:
                # A schema made at the same moment by another part of smsgate (a journal, a
                # campaign), which takes a lock of its own, is there when tried again.
                if attempt == 0 and isinstance(exc, psycopg.errors.UniqueViolation):
                    continue
                raise SuppressionError(
                    f"cannot set the suppression list up in schema {self.schema!r}: {exc}"
                ) from None


async def _run(
    connection: psycopg.AsyncConnection[Any], statement: sql.Composed, parameters: tuple[Any, ...]
) -> tuple[int, list[tuple[Any, ...]]]:
    cursor = await connection.execute(statement, parameters)
    rows = await cursor.fetchall() if cursor.description is not None else []
    return cursor.rowcount, [tuple(row) for row in rows]
