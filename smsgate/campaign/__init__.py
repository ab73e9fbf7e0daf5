"""Campaigns larger than one process: chunk jobs on procrastinate, outcomes in PostgreSQL.

A campaign is read once, when it starts: its rows go into PostgreSQL, each with an
idempotency key of its own, and it is cut into chunks of ``chunk`` rows. Each chunk is one
procrastinate job (task ``smsgate.campaign.chunk``, queueing lock ``NAME:CHUNK``: a chunk is
never queued twice). A worker runs a chunk as one journalled bulk run, ``NAME:CHUNK`` in a
`PostgresJournal` in the same schema, and returns.

Job engines run a job at least once: a worker killed mid-chunk leaves its job running until
its heartbeat is missed, and the chunk is then run again. The journal makes that safe: a
chunk run again skips what the provider accepted, looks up at the provider what was on its
way out (``gateway.find``; uncertain where the provider cannot be searched), and sends the
rest; and only one session of a chunk's run can be open at a time, wherever it runs (a job
that finds its chunk's run held elsewhere leaves it alone). Workers also queue again the
jobs of workers that stopped beating (`Campaigns.recover`), and any unfinished chunk that has
no job, unless its jobs failed `FAILED_JOBS_KEPT` times (it is then *stuck*: see
`Campaigns.requeue`).

    async with Campaigns("postgresql://localhost/sms") as campaigns:
        await campaigns.start("december", rows, chunk=5000)      # once, anywhere
        await campaigns.work(gateway, once=True)                  # on every worker
        print(await campaigns.status("december"))

``pip install "smsgate[campaigns]"`` (procrastinate and psycopg). docs/scale-out.md has the
flow, what each crash leaves behind, and the capacity arithmetic.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from smsgate.bulk import send_all
from smsgate.campaign._model import (
    FAILED_JOBS_KEPT,
    CampaignError,
    CampaignStatus,
    ChunkStatus,
    stored_row,
)
from smsgate.campaign._sql import FINISH, OPEN_CHUNKS, OUTCOMES, RETRY_STALLED, TABLES
from smsgate.checks import is_seconds
from smsgate.errors import ConfigurationError
from smsgate.gateway import SmsGateway, can_find
from smsgate.journal import EntryState, JournalInUse
from smsgate.journal.postgres import PostgresJournal
from smsgate.model import Message

try:
    import procrastinate
    import psycopg
    from procrastinate.app import WorkerOptions
    from procrastinate.exceptions import AlreadyEnqueued, ProcrastinateException
    from procrastinate.schema import SchemaManager
    from psycopg import sql
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError(
        'smsgate.campaign needs procrastinate: pip install "smsgate[campaigns]"'
    ) from exc

__all__ = [
    "CHUNK_TASK",
    "FAILED_JOBS_KEPT",
    "CampaignError",
    "CampaignStatus",
    "Campaigns",
    "ChunkStatus",
]

log = logging.getLogger("smsgate.campaign")

CHUNK_TASK = "smsgate.campaign.chunk"
QUEUE = "smsgate"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_LOCK = 0x534D5343  # "SMSC": the advisory lock taken while the tables are set up


class Campaigns:
    """Campaigns in one PostgreSQL database, and the procrastinate jobs that send them.

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
        self._sender: tuple[SmsGateway, int] | None = None  # what work() sends chunks with
        self._job: asyncio.Task[Any] | None = None  # the task of the chunk under way
        self.app.task(
            name=CHUNK_TASK,
            queue=QUEUE,
            # 10 tries over about 100 s: a database or provider that is away for a minute
            # does not fail the chunk.
            retry=procrastinate.RetryStrategy(max_attempts=10, wait=1, linear_wait=2),
        )(self._chunk_job)

    def __repr__(self) -> str:
        return f"Campaigns(schema={self.schema!r})"  # the conninfo may hold a password

    async def __aenter__(self) -> Campaigns:
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
                await connection.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_LOCK,))
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

    # -- starting ---------------------------------------------------------------------------

    async def start(
        self, name: str, rows: Iterable[Message | Mapping[str, Any]], *, chunk: int = 1000
    ) -> CampaignStatus:
        """Store ``rows`` as campaign ``name`` and queue a job for each chunk.

        Every row is checked (it must make a `Message`) and given an idempotency key of its
        own before anything is stored; the campaign is stored whole or not at all.

        Raises:
            CampaignError: ``name`` is taken or not a name (letters, digits, ``. _ -``), a
                row is not a message, ``chunk`` is not a whole number from 1 to 100,000, or
                the database failed (if it failed once the rows were stored, the error says
                so: workers queue the chunks that have no job when they start).
        """
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise CampaignError(
                "name: 1 to 100 letters, digits, dots, dashes and underscores, "
                "starting with a letter or digit"
            )
        if type(chunk) is not int or not 1 <= chunk <= 100_000:
            raise CampaignError("chunk: a whole number of rows from 1 to 100,000")
        prefix = f"{name}-{secrets.token_hex(4)}"
        stored = []
        for position, item in enumerate(rows):
            fields = stored_row(item, position)
            fields["key"] = f"{prefix}-{position:x}"  # the same on every run of its chunk
            try:
                stored.append(json.dumps(fields, separators=(",", ":")))
            except (TypeError, ValueError) as exc:
                raise CampaignError(
                    f"row {position + 1}: cannot be stored as JSON: {exc}"
                ) from None
        if not stored:
            raise CampaignError("rows: a campaign needs at least one row")
        try:
            async with await self._connect() as connection, connection.transaction():
                inserted = await connection.execute(
                    self._sql(
                        "INSERT INTO {schema}.campaigns (name, chunk, total)"
                        " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
                    ),
                    (name, chunk, len(stored)),
                )
                if inserted.rowcount != 1:
                    raise CampaignError(f"a campaign named {name!r} exists already")
                copying = self._sql(
                    "COPY {schema}.campaign_rows (campaign, position, fields) FROM STDIN"
                )
                async with connection.cursor().copy(copying) as copy:
                    for position, fields_json in enumerate(stored):
                        await copy.write_row((name, position, fields_json))
        except psycopg.Error as exc:
            raise CampaignError(f"cannot store campaign {name!r}: {exc}") from None
        try:
            for number in range(-(-len(stored) // chunk)):
                # A worker's recover() may have queued it since the rows were committed.
                await self._defer(name, number)
        except CampaignError as exc:
            raise CampaignError(
                f"campaign {name!r} is stored, but not every chunk could be queued ({exc}); "
                "a worker queues the rest when it starts: run one"
            ) from None
        return await self.status(name)

    async def enqueue(self, name: str, chunk: int) -> None:
        """Queue a job for chunk ``chunk`` of campaign ``name``.

        Raises:
            CampaignError: a job for that chunk is queued already (waiting to run), or the
                database failed.
        """
        if not await self._defer(name, chunk):
            raise CampaignError(f"chunk {chunk} of {name!r} is queued already")

    async def _defer(self, name: str, chunk: int) -> bool:
        """Queue chunk ``chunk``'s job; False if one is waiting already."""
        deferrer = self.app.configure_task(
            CHUNK_TASK, queue=QUEUE, queueing_lock=f"{name}:{chunk}", lock=f"{name}:{chunk}"
        )
        try:
            await deferrer.defer_async(campaign=name, chunk=chunk)
        except AlreadyEnqueued:
            return False
        except (ProcrastinateException, psycopg.Error) as exc:
            raise CampaignError(f"cannot queue chunk {chunk} of {name!r}: {exc}") from None
        return True

    async def requeue(self, name: str) -> tuple[int, ...]:
        """Queue again the stuck chunks of campaign ``name`` (`CampaignStatus.stuck`: their
        jobs failed too often for workers to queue them again by themselves), once what made
        them fail is put right. Returns the chunks queued.

        Raises:
            CampaignError: there is no campaign of that name, or the database failed.
        """
        queued = []
        for number in (await self.status(name)).stuck:
            if await self._defer(name, number):
                queued.append(number)
        return tuple(queued)

    # -- reading ----------------------------------------------------------------------------

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

    # -- working ----------------------------------------------------------------------------

    async def recover(self, *, stalled_after: float = 30.0) -> int:
        """Queue again what no live worker holds: the jobs of workers that stopped beating for
        ``stalled_after`` seconds, and each unfinished chunk that has no job waiting or
        running (unless it is stuck). Returns how many jobs it queued.

        Raises:
            CampaignError: the database failed.
        """
        again = []
        try:
            async with await self._connect() as connection:
                retried = await connection.execute(
                    self._sql(RETRY_STALLED), {"task": CHUNK_TASK, "seconds": stalled_after}
                )
                stalled = len(await retried.fetchall())
                found = await connection.execute(self._sql(OPEN_CHUNKS), {"outcomes": OUTCOMES})
                for name, number, finished, failed_jobs in await found.fetchall():
                    if finished:  # its last job ended before it could say so
                        await self._finish(connection, name, number, 0)
                    elif failed_jobs >= FAILED_JOBS_KEPT:
                        log.warning(
                            "chunk %d of campaign %r is stuck: its jobs failed %d times; "
                            "see why in the worker's log, then queue it again "
                            "(smsgate campaign requeue %s)",
                            number,
                            name,
                            failed_jobs,
                            name,
                        )
                    else:
                        again.append((name, number))
        except psycopg.Error as exc:
            raise CampaignError(f"cannot look for chunks to queue again: {exc}") from None
        if stalled:
            log.warning("queued again %d chunk jobs of workers that stopped beating", stalled)
        queued = stalled
        for name, number in again:
            if await self._defer(name, number):  # False: queued meanwhile
                log.info("queued chunk %d of campaign %r again: it is not finished", number, name)
                queued += 1
        return queued

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

    async def run_chunk(
        self, gateway: SmsGateway, name: str, chunk: int, *, concurrency: int = 8
    ) -> None:
        """Send chunk ``chunk`` of campaign ``name`` through ``gateway`` as journalled run
        ``NAME:CHUNK``: what a job does. Run again, it sends only what is left.

        Raises:
            JournalInUse: the chunk's run is open elsewhere (nothing was sent).
            CampaignError: there is no such chunk.
        """
        rows = await self._rows(name, chunk)
        if not rows:
            raise CampaignError(f"campaign {name!r} has no chunk {chunk}")
        # A journal of its own, closed with the chunk: its connection and its hold on the run
        # end when the chunk does, however many chunks this worker runs.
        async with PostgresJournal(self._conninfo, schema=self.schema) as journal:
            await send_all(
                gateway,
                rows,
                concurrency=concurrency,
                journal=journal,
                run=f"{name}:{chunk}",
                resolve_uncertain=can_find(gateway),
            )
        async with await self._connect() as connection:
            await self._finish(connection, name, chunk, len(rows))

    async def _chunk_job(self, campaign: str, chunk: int) -> None:
        if self._sender is None:  # pragma: no cover - jobs run only inside work()
            raise CampaignError("chunk jobs run inside Campaigns.work()")
        gateway, concurrency = self._sender
        self._job = asyncio.current_task()
        try:
            await self.run_chunk(gateway, campaign, chunk, concurrency=concurrency)
        except JournalInUse:
            # Another session is sending it (a worker finishing in its grace, or one that was
            # thought dead): it is queued again if that one stops before the chunk is done.
            log.info("chunk %d of campaign %r is being sent elsewhere: left to it", chunk, campaign)
        finally:
            self._job = None

    async def work(
        self,
        gateway: SmsGateway,
        *,
        concurrency: int = 8,
        once: bool = False,
        grace: float | None = None,
        stalled_after: float = 30.0,
        heartbeat: float = 5.0,
    ) -> None:
        """Run chunk jobs through ``gateway`` until cancelled (or, with ``once``, until no
        job is left), one chunk at a time with ``concurrency`` requests in flight.

        The worker beats every ``heartbeat`` seconds; jobs whose worker stopped beating for
        ``stalled_after`` seconds are queued again, when this worker starts and every
        ``stalled_after`` seconds after. Cancelled, it stops taking jobs and gives the chunk
        under way ``grace`` seconds to finish before stopping it: a chunk stopped part way is
        run again, and sends only what it had not. The worker stops beating while it waits,
        so ``grace`` is at most ``stalled_after - 2 * heartbeat`` (the default) lest another
        worker take the chunk up meanwhile.

        Raises:
            ConfigurationError: a time is not a positive number of seconds, ``heartbeat`` is
                more than half ``stalled_after``, or ``grace`` is more than allowed.
            CampaignError: the database failed when the worker started.
        """
        if not is_seconds(stalled_after) or not is_seconds(heartbeat):
            raise ConfigurationError("stalled_after, heartbeat: positive numbers of seconds")
        longest = stalled_after - 2 * heartbeat
        if longest < 0:
            raise ConfigurationError("heartbeat: at most half of stalled_after")
        if grace is None:
            grace = longest
        elif not is_seconds(grace, zero=True) or grace > longest:
            raise ConfigurationError(
                f"grace: 0 to {longest:g} seconds (stalled_after - 2 * heartbeat): the "
                "worker stops beating while a chunk finishes"
            )
        self._sender = (gateway, concurrency)
        await self.recover(stalled_after=stalled_after)
        watcher = asyncio.create_task(self._recovering(stalled_after))
        options: WorkerOptions = {
            "queues": [QUEUE],
            "wait": not once,
            "concurrency": 1,
            "install_signal_handlers": False,
            "update_heartbeat_interval": heartbeat,
            "fetch_job_polling_interval": heartbeat,  # for jobs queued without a notice
            "stalled_worker_timeout": stalled_after,
            "shutdown_graceful_timeout": grace,
            "delete_jobs": "never",
        }
        runner = asyncio.ensure_future(self.app.run_worker_async(**options))
        try:
            await asyncio.shield(runner)
        except asyncio.CancelledError:
            runner.cancel()  # it takes no more jobs, and gives the chunk under way its grace
            while not runner.done():
                try:
                    await asyncio.shield(runner)
                except asyncio.CancelledError:  # cancelled again: the chunk stops now
                    if self._job is not None:
                        self._job.cancel()
            raise
        finally:
            self._sender = None
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _recovering(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.recover(stalled_after=every)
            except Exception as exc:  # a database away for a while: try again next time
                log.warning(
                    "could not look for chunks to queue again (next in %gs): %s", every, exc
                )
