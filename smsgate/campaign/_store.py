"""The database side of `smsgate.campaign`: its tables, queueing a chunk's job, a campaign's
status, and a chunk's rows."""

from __future__ import annotations

from typing import Any, Self

from smsgate.campaign._model import CampaignError, CampaignStatus, ChunkStatus
from smsgate.campaign._sql import FINISH, OUTCOMES, QUEUED, TABLES
from smsgate.journal import EntryState
from smsgate.journal.postgres import PostgresJournal

try:
    import procrastinate
    import psycopg
    from procrastinate.exceptions import AlreadyEnqueued, ProcrastinateException
    from procrastinate.schema import SchemaManager
    from psycopg import sql
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError(
        'smsgate.campaign needs procrastinate: pip install "smsgate[campaigns]"'
    ) from exc

__all__ = ["CHUNK_TASK", "LOCK", "QUEUE", "CampaignStore"]

CHUNK_TASK = "smsgate.campaign.chunk"
QUEUE = "smsgate"
LOCK = 0x534D5343  # "SMSC": the advisory locks of campaigns (tables, settings, chunks)


class CampaignStore:
    """Campaigns in one PostgreSQL database (see `smsgate.campaign.Campaigns`).

    Args:
        conninfo: how to connect to PostgreSQL (a URL or a psycopg conninfo string).
        schema: where the campaign tables, the journal and procrastinate's tables live.

    Raises:
        JournalError: ``schema`` is not a plain lower-case name.
    """

    def __init__(self, conninfo: str, *, schema: str = "smsgate") -> None:
        self.journal = PostgresJournal(conninfo, schema=schema)
        self.schema = schema
        self._conninfo = conninfo
        self._options = f"-c search_path={schema}"  # procrastinate's functions name no schema
        self.app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(
                conninfo=conninfo, kwargs={"options": self._options}, min_size=1, max_size=4
            )
        )
        self._open = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(schema={self.schema!r})"  # the conninfo may hold a password

    async def __aenter__(self) -> Self:
        await self.setup()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def setup(self) -> None:
        """Make the tables (the journal's, the campaigns', procrastinate's) if missing, and
        open the job queue.

        Raises:
            CampaignError: the database cannot be used.
        """
        if self._open:
            return
        await self.journal.setup()
        try:
            async with await self._connect() as connection, connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK,))
                await connection.execute(self._sql(TABLES))
                found = await connection.execute(
                    "SELECT to_regclass(%s)", (f"{self.schema}.procrastinate_jobs",)
                )
                (jobs,) = await found.fetchone() or (None,)
                if jobs is None:  # procrastinate's own tables, in the same schema
                    await connection.execute(SchemaManager.get_schema())
            await self.app.open_async()
        except psycopg.Error as exc:
            raise CampaignError(f"cannot set the campaign tables up: {exc}") from None
        self._open = True

    async def aclose(self) -> None:
        """Close the job queue's connections and the journal's."""
        if self._open:
            self._open = False
            await self.app.close_async()
        await self.journal.aclose()

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(
            self._conninfo, options=self._options, autocommit=True
        )

    def _sql(self, template: str) -> sql.Composed:
        return sql.SQL(template).format(schema=sql.Identifier(self.schema))

    async def _defer(self, connection: psycopg.AsyncConnection[Any], name: str, chunk: int) -> bool:
        """Queue chunk ``chunk``'s job, unless one is waiting or running (False then).

        procrastinate's queueing lock refuses a second *waiting* job only; a chunk lock held
        on ``connection`` while this looks and queues makes it one job at most, waiting or
        running, however many workers queue the chunk at once.
        """
        lock = f"{name}:{chunk}"
        deferrer = self.app.configure_task(CHUNK_TASK, queue=QUEUE, queueing_lock=lock, lock=lock)
        await connection.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (LOCK, lock))
        try:
            found = await connection.execute(self._sql(QUEUED), (lock,))
            if await found.fetchone() is not None:
                return False
            await deferrer.defer_async(campaign=name, chunk=chunk)
        except AlreadyEnqueued:
            return False
        except ProcrastinateException as exc:
            raise CampaignError(f"cannot queue chunk {chunk} of {name!r}: {exc}") from None
        finally:
            await connection.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (LOCK, lock))
        return True

    async def status(self, name: str) -> CampaignStatus:
        """Where campaign ``name`` stands, chunk by chunk, by its journal.

        Raises:
            CampaignError: there is no campaign of that name, or the database failed.
        """
        try:
            async with await self._connect() as connection:
                found = await connection.execute(
                    self._sql("SELECT chunk, total FROM {schema}.campaigns WHERE name = %s"),
                    (name,),
                )
                row = await found.fetchone()
                if row is None:
                    raise CampaignError(f"there is no campaign named {name!r}")
                size, total = row
                runs = [f"{name}:{n}" for n in range(-(-total // size))]
                counted = await connection.execute(
                    self._sql(
                        "SELECT r.name, i.state, count(*) FROM {schema}.runs AS r"
                        " JOIN {schema}.inputs AS i ON i.run = r.id"
                        " WHERE r.name = ANY(%s) GROUP BY r.name, i.state"
                    ),
                    (runs,),
                )
                states: dict[str, dict[int, int]] = {}
                for run, state, count in await counted.fetchall():
                    states.setdefault(run, {})[state] = count
                jobs = await connection.execute(
                    self._sql(
                        "SELECT lock, count(*) FILTER (WHERE status = 'failed'),"
                        " bool_or(status IN ('todo', 'doing'))"
                        " FROM {schema}.procrastinate_jobs WHERE lock = ANY(%s) GROUP BY lock"
                    ),
                    (runs,),
                )
                held = {lock: (failed, live) for lock, failed, live in await jobs.fetchall()}
        except psycopg.Error as exc:
            raise CampaignError(f"cannot read campaign {name!r}: {exc}") from None
        chunks = []
        for number, run in enumerate(runs):
            counts = states.get(run, {})
            failed_jobs, queued = held.get(run, (0, False))
            chunks.append(
                ChunkStatus(
                    chunk=number,
                    rows=min(size, total - number * size),
                    accepted=counts.get(EntryState.ACCEPTED, 0),
                    failed=counts.get(EntryState.FAILED, 0),
                    uncertain=counts.get(EntryState.UNCERTAIN, 0),
                    suppressed=counts.get(EntryState.SUPPRESSED, 0),
                    failed_jobs=failed_jobs,
                    queued=queued,
                )
            )
        return CampaignStatus(name=name, chunks=tuple(chunks))

    async def _rows(self, name: str, chunk: int) -> list[dict[str, Any]]:
        async with await self._connect() as connection:
            found = await connection.execute(
                self._sql(
                    "SELECT r.fields FROM {schema}.campaign_rows AS r"
                    " JOIN {schema}.campaigns AS c ON c.name = r.campaign"
                    " WHERE r.campaign = %s AND r.position >= %s * c.chunk"
                    " AND r.position < (%s + 1) * c.chunk ORDER BY r.position"
                ),
                (name, chunk, chunk),
            )
            return [fields for (fields,) in await found.fetchall()]

    async def _finish(
        self, connection: psycopg.AsyncConnection[Any], name: str, chunk: int, rows: int
    ) -> bool:
        """Mark the chunk finished if every one of its ``rows`` has an outcome."""
        marked = await connection.execute(
            self._sql(FINISH),
            {
                "campaign": name,
                "chunk": chunk,
                "rows": rows,
                "run": f"{name}:{chunk}",
                "outcomes": OUTCOMES,
            },
        )
        return marked.rowcount == 1
