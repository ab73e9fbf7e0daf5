"""``smsgate campaign``: campaigns sent by many worker processes (`smsgate.campaign`)."""

from __future__ import annotations

import array
import asyncio
import contextlib
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from smsgate.cli._commands import cli
from smsgate.cli._common import OK, Settings, concurrency_option, mark_sending, settings_of
from smsgate.cli._csv import check_csv, read_rows
from smsgate.errors import ValidationError
from smsgate.providers.base import HttpGateway
from smsgate.ratelimit import RedisRateLimiter

if TYPE_CHECKING:
    from smsgate.campaign import Campaigns, CampaignStatus

__all__ = ["campaign"]

_DB = click.option(
    "--db",
    "conninfo",
    required=True,
    envvar="SMSGATE_DB",
    help="PostgreSQL to keep the campaign in: a URL or conninfo (or SMSGATE_DB).",
)
_SCHEMA = click.option(
    "--schema", default="smsgate", show_default=True, help="The schema of its tables."
)


def _campaigns(conninfo: str, schema: str) -> Campaigns:
    try:
        from smsgate.campaign import Campaigns
    except ImportError as exc:
        raise click.UsageError(f'{exc}: pip install "smsgate[campaigns]"') from None
    return Campaigns(conninfo, schema=schema)


@cli.group()
def campaign() -> None:
    """Campaigns sent by many worker processes, in chunks, from PostgreSQL.

    `smsgate campaign start FILE` stores a CSV file's rows and queues a job a chunk; each
    `smsgate campaign worker` sends chunks until none is left; `smsgate campaign status NAME`
    counts what the provider accepted. A worker killed at any point leaves its chunk to
    another, which sends only what was not sent.
    """


@campaign.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_DB
@_SCHEMA
@click.option("--name", help="The campaign's name (default: FILE's name without its suffix).")
@click.option("--chunk", default=1000, show_default=True, help="Rows a job sends.")
@click.pass_context
def start(
    context: click.Context, file: Path, conninfo: str, schema: str, name: str | None, chunk: int
) -> int:
    """Store the rows of a CSV FILE (columns to, text; optional sender, reference) as a
    campaign and queue its chunks; print its name.

    It is read and checked as `smsgate bulk` reads it: any other column is a field its text
    may use, 'Hi {name}' ({{ and }} for a brace, but not around a column's name); a row
    whose field is missing or empty refuses the file, and nothing is stored."""
    settings = settings_of(context)
    checked = check_csv(file)
    name = name or file.stem

    async def starting() -> None:
        lines: array.array[int] = array.array("L")
        async with _campaigns(conninfo, schema) as campaigns:
            status = await campaigns.start(name, read_rows(checked, lines), chunk=chunk)
        if settings.as_json:
            settings.out.print_json(
                data={"name": status.name, "rows": status.rows, "chunks": len(status.chunks)}
            )
        else:
            settings.out.print(status.name, markup=False, highlight=False)

    asyncio.run(starting())
    return OK


@campaign.command()
@_DB
@_SCHEMA
@concurrency_option()
@click.option("--once", is_flag=True, help="Stop when no job is left, instead of waiting.")
@click.option(
    "--grace",
    type=float,
    help="Seconds a chunk under way gets to finish after SIGINT or SIGTERM; at most, and by "
    "default, --stalled-after less two heartbeats (20 s).",
)
@click.option(
    "--stalled-after",
    default=30.0,
    show_default=True,
    help="Seconds without a heartbeat after which a worker's chunk is run again; the same for "
    "every worker of a schema.",
)
@click.option(
    "--limit",
    type=float,
    help="SMS parts a second, shared through Redis by every worker given the same --redis.",
)
@click.option(
    "--redis",
    "redis_url",
    envvar="SMSGATE_REDIS",
    default="redis://127.0.0.1:6379/0",
    show_default=True,
    help="The Redis that keeps --limit (or SMSGATE_REDIS).",
)
@click.option("--limit-key", help="The limit's name in Redis (default: smsgate:PROVIDER).")
@click.pass_context
def worker(
    context: click.Context,
    conninfo: str,
    schema: str,
    concurrency: int,
    once: bool,
    grace: float | None,
    stalled_after: float,
    limit: float | None,
    redis_url: str,
    limit_key: str | None,
) -> int:
    """Send the chunks of every campaign through the configured provider, one at a time.

    SIGINT or SIGTERM stops it: the chunk under way gets --grace seconds to finish, then
    stops, and the worker exits 0; a second signal stops the chunk at once (exit 130 for
    SIGINT, 143 for SIGTERM). Whatever a chunk did not send is sent by the next worker to
    run it.
    """
    settings = settings_of(context)
    mark_sending()
    if not stalled_after > 0:
        raise ValidationError("--stalled-after", "must be more than 0 seconds")
    heartbeat = min(5.0, stalled_after / 4)
    longest = stalled_after - 2 * heartbeat
    if grace is None:
        grace = longest
    elif not 0 <= grace <= longest:
        raise ValidationError(
            "--grace",
            f"0 to {longest:g} seconds with --stalled-after {stalled_after:g} (less two "
            f"heartbeats of {heartbeat:g} s): the worker stops beating while a chunk finishes",
        )
    limiter = None
    if limit is not None:
        key = limit_key or f"smsgate:{settings.config()['provider']}"
        limiter = RedisRateLimiter(redis_url, key, limit)
    timing = (grace, stalled_after, heartbeat)
    return asyncio.run(_work(settings, conninfo, schema, concurrency, once, timing, limiter))


async def _work(
    settings: Settings,
    conninfo: str,
    schema: str,
    concurrency: int,
    once: bool,
    timing: tuple[float, float, float],
    limiter: RedisRateLimiter | None,
) -> int:
    """Run the worker until it is done or signalled; the exit code."""
    grace, stalled_after, heartbeat = timing
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals: list[int] = []
    working: asyncio.Future[None] | None = None

    def signalled(number: int) -> None:
        signals.append(number)
        stop.set()
        if len(signals) > 1 and working is not None:
            working.cancel()  # the second: the chunk under way stops now (its grace cut)

    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, signalled, number)
    try:
        async with settings.gateway() as gateway, _campaigns(conninfo, schema) as campaigns:
            if limiter is not None:
                if not isinstance(gateway, HttpGateway):
                    raise ValidationError("limit", f"{gateway.name} takes no rate limiter")
                gateway.rate_limiter = limiter
            working = asyncio.ensure_future(
                campaigns.work(
                    gateway,
                    concurrency=concurrency,
                    once=once,
                    grace=grace,
                    stalled_after=stalled_after,
                    heartbeat=heartbeat,
                )
            )
            stopping = asyncio.ensure_future(stop.wait())
            settings.err.print("smsgate campaign worker: ready; SIGINT or SIGTERM stops it")
            await asyncio.wait({working, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not working.done():
                working.cancel()  # stops taking jobs; the chunk under way gets its grace
            with contextlib.suppress(asyncio.CancelledError):
                await working
    finally:
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)
        if limiter is not None:
            await limiter.aclose()
    return 128 + signals[-1] if len(signals) > 1 else OK


@campaign.command()
@click.argument("name")
@_DB
@_SCHEMA
@click.option("--chunks", is_flag=True, help="A line (an object, with --json) for each chunk.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")
@click.pass_context
def status(
    context: click.Context, name: str, conninfo: str, schema: str, chunks: bool, as_json: bool
) -> int:
    """Count the rows of campaign NAME the provider accepted, refused, may have taken
    (uncertain), that were not sent to people who opted out (suppressed), and that are still
    to be sent (pending)."""
    settings = settings_of(context)

    async def reading() -> CampaignStatus:
        async with _campaigns(conninfo, schema) as campaigns:
            return await campaigns.status(name)

    found = asyncio.run(reading())
    if settings.as_json or as_json:
        settings.out.print_json(data=found.as_dict(chunks=chunks))
        return OK
    table = Table(title=f"campaign {found.name}", title_justify="left")
    for column in ("chunk", "rows", "accepted", "failed", "uncertain", "suppressed", "pending"):
        table.add_column(column, justify="right")
    if chunks:
        for c in found.chunks:
            table.add_row(
                str(c.chunk),
                *(
                    f"{n:,}"
                    for n in (c.rows, c.accepted, c.failed, c.uncertain, c.suppressed, c.pending)
                ),
            )
    table.add_row(
        "all",
        *(
            f"{n:,}"
            for n in (
                found.rows,
                found.accepted,
                found.failed,
                found.uncertain,
                found.suppressed,
                found.pending,
            )
        ),
    )
    settings.out.print(table)
    if found.stuck:
        settings.out.print(
            "stuck chunks (their jobs failed too often to be queued again): "
            f"{', '.join(map(str, found.stuck))}; see why in the workers' logs, then: "
            f"smsgate campaign requeue {found.name}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    return OK


@campaign.command()
@click.argument("name")
@_DB
@_SCHEMA
@click.pass_context
def requeue(context: click.Context, name: str, conninfo: str, schema: str) -> int:
    """Queue again the stuck chunks of campaign NAME: those whose jobs failed so often that
    workers no longer queue them by themselves. Prints the chunks queued."""
    settings = settings_of(context)

    async def queueing() -> tuple[int, ...]:
        async with _campaigns(conninfo, schema) as campaigns:
            return await campaigns.requeue(name)

    queued = asyncio.run(queueing())
    if settings.as_json:
        settings.out.print_json(data={"name": name, "queued": list(queued)})
    else:
        shown = ", ".join(map(str, queued)) if queued else "none"
        settings.out.print(f"queued chunks: {shown}", markup=False, highlight=False)
    return OK
