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
rest. Workers also re-queue the jobs of workers that stopped beating (`Campaigns.recover`),
and any chunk whose journal is unfinished but which has no job at all.

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
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from smsgate.bulk import send_all
from smsgate.errors import SmsGateError
from smsgate.gateway import SmsGateway, can_find
from smsgate.journal import EntryState
from smsgate.journal.postgres import PostgresJournal
from smsgate.model import Message

try:
    import procrastinate
    import psycopg
    from procrastinate.app import WorkerOptions
    from procrastinate.exceptions import AlreadyEnqueued
    from procrastinate.schema import SchemaManager
    from psycopg import sql
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError(
        'smsgate.campaign needs procrastinate: pip install "smsgate[campaigns]"'
    ) from exc

__all__ = ["CHUNK_TASK", "CampaignError", "CampaignStatus", "Campaigns", "ChunkStatus"]

CHUNK_TASK = "smsgate.campaign.chunk"
QUEUE = "smsgate"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_LOCK = 0x534D5343  # "SMSC": the advisory lock taken while the tables are set up
_FIELDS = frozenset(
    ("to", "text", "sender", "reference", "tag", "metadata", "region", "provider_options")
)

_TABLES = """
CREATE TABLE IF NOT EXISTS {schema}.campaigns (
    name text PRIMARY KEY,
    chunk integer NOT NULL,
    total integer NOT NULL,
    created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {schema}.campaign_rows (
    campaign text NOT NULL REFERENCES {schema}.campaigns (name),
    position integer NOT NULL,
    fields jsonb NOT NULL,
    PRIMARY KEY (campaign, position)
);
"""


class CampaignError(SmsGateError):
    """A campaign cannot be started, queued or read: the name is taken or unknown, a row is
    not a message, a chunk is queued already, or the database cannot be used."""


@attrs.frozen
class ChunkStatus:
    """Where one chunk of a campaign stands, by its journal.

    Attributes:
        chunk: its number, from 0.
        rows: how many rows it holds.
        accepted: rows the provider took.
        failed: rows the provider refused, or that could not be sent.
        uncertain: rows whose request left with no answer that settled them.
        pending: rows with no outcome yet (not read, or on their way).
    """

    chunk: int
    rows: int
    accepted: int = 0
    failed: int = 0
    uncertain: int = 0

    @property
    def pending(self) -> int:
        return self.rows - self.accepted - self.failed - self.uncertain


@attrs.frozen
class CampaignStatus:
    """Where a campaign stands: its chunks, and their sums."""

    name: str
    chunks: tuple[ChunkStatus, ...]

    @property
    def rows(self) -> int:
        return sum(c.rows for c in self.chunks)

    @property
    def accepted(self) -> int:
        return sum(c.accepted for c in self.chunks)

    @property
    def failed(self) -> int:
        return sum(c.failed for c in self.chunks)

    @property
    def uncertain(self) -> int:
        return sum(c.uncertain for c in self.chunks)

    @property
    def pending(self) -> int:
        return sum(c.pending for c in self.chunks)

    @property
    def done(self) -> bool:
        """Whether every row has an outcome."""
        return self.pending == 0

    def as_dict(self, *, chunks: bool = False) -> dict[str, Any]:
        """The counts as JSON-ready data (each chunk's too, with ``chunks``)."""
        totals = {
            "name": self.name,
            "rows": self.rows,
            "accepted": self.accepted,
            "failed": self.failed,
            "uncertain": self.uncertain,
            "pending": self.pending,
        }
        if chunks:
            totals["chunks"] = [{**attrs.asdict(c), "pending": c.pending} for c in self.chunks]
        return totals


def _row(item: Message | Mapping[str, Any], position: int) -> dict[str, Any]:
    """A row as stored: the message's fields, checked by building it."""
    if isinstance(item, Message):
        fields: dict[str, Any] = {"to": item.to, "text": item.text}
        for name in ("sender", "reference", "tag"):
            if getattr(item, name) is not None:
                fields[name] = getattr(item, name)
        if item.metadata:
            fields["metadata"] = dict(item.metadata)
        if item.provider_options:
            fields["provider_options"] = {k: dict(v) for k, v in item.provider_options.items()}
        if item.validity is not None:
            raise CampaignError(f"row {position + 1}: validity cannot be kept in a campaign yet")
        return fields
    if not isinstance(item, Mapping):
        raise CampaignError(f"row {position + 1}: a Message or a mapping of its fields")
    fields = {k: v for k, v in item.items() if v not in (None, "")}
    unknown = sorted(set(fields) - _FIELDS)
    if unknown:
        raise CampaignError(f"row {position + 1}: unknown field {', '.join(unknown)}")
    try:
        Message(**fields)
    except (SmsGateError, TypeError) as exc:
        raise CampaignError(f"row {position + 1}: {exc}") from None
    return fields


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
        self.app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(
                conninfo=conninfo,
                kwargs={"options": f"-c search_path={schema}"},
                min_size=1,
                max_size=4,
            )
        )
        self._open = False
        self._sender: tuple[SmsGateway, int] | None = None  # what work() sends chunks with
        self.app.task(
            name=CHUNK_TASK,
            queue=QUEUE,
            retry=procrastinate.RetryStrategy(max_attempts=10, wait=1),
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
            async with (
                await psycopg.AsyncConnection.connect(self._conninfo) as connection,
                connection.transaction(),
            ):
                await connection.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_LOCK,))
                await connection.execute(self._sql(_TABLES))
                found = await connection.execute(
                    "SELECT to_regclass(%s)", (f"{self.schema}.procrastinate_jobs",)
                )
                (jobs,) = await found.fetchone() or (None,)
                if jobs is None:  # procrastinate's own tables, in the same schema
                    await connection.execute(
                        sql.SQL("SET LOCAL search_path = {}").format(sql.Identifier(self.schema))
                    )
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
                row is not a message, or ``chunk`` is not a whole number from 1 to 100,000.
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
            fields = _row(item, position)
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
            async with (
                await psycopg.AsyncConnection.connect(self._conninfo) as connection,
                connection.transaction(),
            ):
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
        for number in range(-(-len(stored) // chunk)):
            # A worker's recover() may have queued it since the rows were committed.
            with contextlib.suppress(CampaignError):
                await self.enqueue(name, number)
        return await self.status(name)

    async def enqueue(self, name: str, chunk: int) -> None:
        """Queue a job for chunk ``chunk`` of campaign ``name``.

        Raises:
            CampaignError: a job for that chunk is queued already (waiting to run).
        """
        deferrer = self.app.configure_task(
            CHUNK_TASK, queue=QUEUE, queueing_lock=f"{name}:{chunk}", lock=f"{name}:{chunk}"
        )
        try:
            await deferrer.defer_async(campaign=name, chunk=chunk)
        except AlreadyEnqueued:
            raise CampaignError(f"chunk {chunk} of {name!r} is queued already") from None

    # -- reading ----------------------------------------------------------------------------

    async def status(self, name: str) -> CampaignStatus:
        """Where campaign ``name`` stands, chunk by chunk, by its journal.

        Raises:
            CampaignError: there is no campaign of that name.
        """
        async with await psycopg.AsyncConnection.connect(self._conninfo) as connection:
            found = await connection.execute(
                self._sql("SELECT chunk, total FROM {schema}.campaigns WHERE name = %s"), (name,)
            )
            row = await found.fetchone()
            if row is None:
                raise CampaignError(f"there is no campaign named {name!r}")
            size, total = row
            counted = await connection.execute(
                self._sql(
                    "SELECT r.name, i.state, count(*) FROM {schema}.runs AS r"
                    " JOIN {schema}.inputs AS i ON i.run = r.id"
                    " WHERE starts_with(r.name, %s) GROUP BY r.name, i.state"
                ),
                (f"{name}:",),
            )
            states: dict[int, dict[int, int]] = {}
            for run, state, count in await counted.fetchall():
                number = run.rpartition(":")[2]
                if number.isdigit():
                    states.setdefault(int(number), {})[state] = count
        chunks = []
        for number in range(-(-total // size)):
            counts = states.get(number, {})
            chunks.append(
                ChunkStatus(
                    chunk=number,
                    rows=min(size, total - number * size),
                    accepted=counts.get(EntryState.ACCEPTED, 0),
                    failed=counts.get(EntryState.FAILED, 0),
                    uncertain=counts.get(EntryState.UNCERTAIN, 0),
                )
            )
        return CampaignStatus(name=name, chunks=tuple(chunks))

    async def _rows(self, name: str, chunk: int) -> list[dict[str, Any]]:
        async with await psycopg.AsyncConnection.connect(self._conninfo) as connection:
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
        running. Returns how many jobs it queued."""
        manager = self.app.job_manager
        queued = 0
        for job in await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
            if job.task_name == CHUNK_TASK:
                await manager.retry_job(job)
                queued += 1
        async with await psycopg.AsyncConnection.connect(self._conninfo) as connection:
            found = await connection.execute(
                self._sql(
                    "SELECT c.name, n FROM {schema}.campaigns AS c,"
                    " generate_series(0, (c.total - 1) / c.chunk) AS n"
                    " WHERE NOT EXISTS (SELECT 1 FROM {schema}.procrastinate_jobs AS j"
                    "   WHERE j.lock = c.name || ':' || n AND j.status IN ('todo', 'doing'))"
                    " AND least(c.chunk, c.total - n * c.chunk) > (SELECT count(*)"
                    "   FROM {schema}.runs AS r JOIN {schema}.inputs AS i ON i.run = r.id"
                    "   WHERE r.name = c.name || ':' || n AND i.state IN (2, 3, 4))"
                ),
            )
            unfinished = await found.fetchall()
        for name, number in unfinished:
            with contextlib.suppress(CampaignError):  # queued meanwhile: nothing to do
                await self.enqueue(name, number)
                queued += 1
        return queued

    async def run_chunk(
        self, gateway: SmsGateway, name: str, chunk: int, *, concurrency: int = 8
    ) -> None:
        """Send chunk ``chunk`` of campaign ``name`` through ``gateway`` as journalled run
        ``NAME:CHUNK``: what a job does. Run again, it sends only what is left."""
        rows = await self._rows(name, chunk)
        await send_all(
            gateway,
            rows,
            concurrency=concurrency,
            journal=self.journal,
            run=f"{name}:{chunk}",
            resolve_uncertain=can_find(gateway),
        )

    async def _chunk_job(self, campaign: str, chunk: int) -> None:
        if self._sender is None:  # pragma: no cover - jobs run only inside work()
            raise CampaignError("chunk jobs run inside Campaigns.work()")
        gateway, concurrency = self._sender
        await self.run_chunk(gateway, campaign, chunk, concurrency=concurrency)

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

        Jobs whose worker stopped beating for ``stalled_after`` seconds are queued again,
        when this worker starts and every ``stalled_after`` seconds after. Cancelled, it
        stops taking jobs and gives the chunk under way ``grace`` seconds to finish (without
        end by default) before cancelling it: a chunk stopped part way is run again, and
        sends only what it had not.
        """
        self._sender = (gateway, concurrency)
        await self.recover(stalled_after=stalled_after)

        async def recovering() -> None:
            while True:
                await asyncio.sleep(stalled_after)
                await self.recover(stalled_after=stalled_after)

        watcher = asyncio.create_task(recovering())
        try:
            options: WorkerOptions = {
                "queues": [QUEUE],
                "wait": not once,
                "concurrency": 1,
                "install_signal_handlers": False,
                "update_heartbeat_interval": heartbeat,
                "fetch_job_polling_interval": heartbeat,  # for jobs queued without a notice
                "stalled_worker_timeout": stalled_after,
                "delete_jobs": "never",
            }
            if grace is not None:
                options["shutdown_graceful_timeout"] = grace
            await self.app.run_worker_async(**options)
        finally:
            self._sender = None
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
