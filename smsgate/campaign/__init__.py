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
from smsgate.campaign._sql import FAIL, OPEN_CHUNKS, OUTCOMES, RETRY, STALLED
from smsgate.campaign._store import CHUNK_TASK, LOCK, QUEUE, CampaignStore
from smsgate.checks import is_seconds
from smsgate.errors import ConfigurationError
from smsgate.gateway import SmsGateway, can_find
from smsgate.journal import JournalInUse
from smsgate.journal.postgres import PostgresJournal
from smsgate.model import Message

try:
    import procrastinate
    import psycopg
    from procrastinate.app import WorkerOptions
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

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
STALLS_KEPT = 3  # tries of a job after which a worker's death ends it instead


class Campaigns(CampaignStore):
    """Campaigns in one PostgreSQL database, and the procrastinate jobs that send them.

    Args:
        conninfo: how to connect to PostgreSQL (a URL or a psycopg conninfo string).
        schema: where the campaign tables, the journal and procrastinate's tables live.

    Raises:
        JournalError: ``schema`` is not a plain lower-case name.
    """

    def __init__(self, conninfo: str, *, schema: str = "smsgate") -> None:
        super().__init__(conninfo, schema=schema)
        self._sender: tuple[SmsGateway, int] | None = None  # what work() sends chunks with
        self._job: asyncio.Task[Any] | None = None  # the task of the chunk under way
        self.app.task(
            name=CHUNK_TASK,
            queue=QUEUE,
            # 10 tries over about 100 s for a chunk that raises (its journal or database
            # away for a while).
            retry=procrastinate.RetryStrategy(max_attempts=10, wait=1, linear_wait=2),
        )(self._chunk_job)

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
            async with await self._connect() as connection:
                for number in range(-(-len(stored) // chunk)):
                    # A worker's recover() may have queued it since the rows were committed.
                    await self._defer(connection, name, number)
        except (CampaignError, psycopg.Error) as exc:
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
        try:
            async with await self._connect() as connection:
                queued = await self._defer(connection, name, chunk)
        except psycopg.Error as exc:
            raise CampaignError(f"cannot queue chunk {chunk} of {name!r}: {exc}") from None
        if not queued:
            raise CampaignError(f"chunk {chunk} of {name!r} is queued already")

    async def requeue(self, name: str) -> tuple[int, ...]:
        """Queue again the stuck chunks of campaign ``name`` (`CampaignStatus.stuck`: their
        jobs failed too often for workers to queue them again by themselves), once what made
        them fail is put right. Returns the chunks queued.

        Raises:
            CampaignError: there is no campaign of that name, or the database failed.
        """
        queued = []
        stuck = (await self.status(name)).stuck
        try:
            async with await self._connect() as connection:
                for number in stuck:
                    if await self._defer(connection, name, number):
                        queued.append(number)
        except psycopg.Error as exc:
            raise CampaignError(f"cannot queue campaign {name!r} again: {exc}") from None
        return tuple(queued)

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
                retried, ended = await self._recover_stalled(connection, stalled_after)
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
                queued = retried
                for name, number in again:
                    if await self._defer(connection, name, number):  # False: queued meanwhile
                        log.info("queued chunk %d of %r again: it is not finished", number, name)
                        queued += 1
        except psycopg.Error as exc:
            raise CampaignError(f"cannot look for chunks to queue again: {exc}") from None
        if retried or ended:
            log.warning(
                "of the chunk jobs of workers that stopped beating, %d were queued again and "
                "%d ended as failed (tried %d times, or queued twice)",
                retried,
                ended,
                STALLS_KEPT,
            )
        return queued

    async def _recover_stalled(
        self, connection: psycopg.AsyncConnection[Any], stalled_after: float
    ) -> tuple[int, int]:
        """Queue again, or end, the jobs of workers that stopped beating: how many of each.

        A job tried `STALLS_KEPT` times ends as failed rather than run again: a chunk that
        takes its worker down with it (memory, a crash) does not take every worker down in
        turn.
        """
        retried = ended = 0
        async with connection.transaction():
            found = await connection.execute(
                self._sql(STALLED), {"task": CHUNK_TASK, "seconds": stalled_after}
            )
            for job, attempts, twin in await found.fetchall():
                if twin or attempts >= STALLS_KEPT:
                    await connection.execute(self._sql(FAIL), {"job": job})
                    ended += 1
                else:
                    await connection.execute(RETRY, {"job": job, "attempts": attempts})
                    retried += 1
        return retried, ended

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
        await self._agree(stalled_after)
        self._sender = (gateway, concurrency)
        self._keep_beating()
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

    async def _agree(self, stalled_after: float) -> None:
        """Record this worker's ``stalled_after`` for the schema, or refuse one that differs
        from the live workers': a worker that thinks others stalled sooner than they beat
        would queue their chunks again under them, and prune them from procrastinate."""
        try:
            async with await self._connect() as connection, connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock(%s, 1)", (LOCK,))
                found = await connection.execute(
                    self._sql(
                        "SELECT s.value, (SELECT count(*) FROM {schema}.procrastinate_workers"
                        "  WHERE last_heartbeat > now() - make_interval(secs => s.value))"
                        " FROM {schema}.campaign_settings AS s WHERE s.name = 'stalled_after'"
                    )
                )
                agreed = await found.fetchone()
                if agreed is not None and agreed[1] and agreed[0] != stalled_after:
                    raise ConfigurationError(
                        f"stalled_after: the {agreed[1]} live workers of schema "
                        f"{self.schema!r} use {agreed[0]:g} s; every worker of a schema "
                        "must use the same"
                    )
                await connection.execute(
                    self._sql(
                        "INSERT INTO {schema}.campaign_settings (name, value)"
                        " VALUES ('stalled_after', %s)"
                        " ON CONFLICT (name) DO UPDATE SET value = excluded.value"
                    ),
                    (stalled_after,),
                )
        except psycopg.Error as exc:
            raise CampaignError(f"cannot start a campaign worker: {exc}") from None

    def _keep_beating(self) -> None:
        """Make procrastinate's heartbeat outlast a failed update: its loop ends at the first
        error, and a worker that beats no more has its chunks taken from under it."""
        manager = self.app.job_manager
        beat = manager.update_heartbeat
        if getattr(beat, "smsgate_resilient", False):
            return

        async def update_heartbeat(worker_id: int) -> None:
            try:
                await beat(worker_id)
            except Exception as exc:  # the database away for a moment: the next beat
                log.warning("could not update this worker's heartbeat: %s", exc)

        update_heartbeat.smsgate_resilient = True  # type: ignore[attr-defined]
        manager.update_heartbeat = update_heartbeat  # type: ignore[method-assign]

    async def _recovering(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.recover(stalled_after=every)
            except Exception as exc:  # a database away for a while: try again next time
                log.warning(
                    "could not look for chunks to queue again (next in %gs): %s", every, exc
                )
