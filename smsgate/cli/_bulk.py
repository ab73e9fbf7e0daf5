"""``smsgate bulk`` and ``smsgate track``: a CSV file sent with a journal, resumed after any
stop, and followed to its delivery statuses; or, with ``--dry-run``, checked and priced."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import click
from rich.table import Table

import smsgate
from smsgate.cli._commands import cli
from smsgate.cli._common import (
    FAILED,
    OK,
    WHEN,
    Settings,
    command_line,
    concurrency_option,
    mark_sending,
    settings_of,
)
from smsgate.cli._csv import CsvFile, FileError, RowIndex, check_csv, read_rows
from smsgate.cli._dryrun import dry_run as check_and_count
from smsgate.cli._progress import (
    BulkResult,
    Results,
    StatusBoard,
    exit_code_of,
    report,
    send_with_progress,
)
from smsgate.cli._resuming import check_sending
from smsgate.cli._shell import Failure, failure_of, say
from smsgate.errors import UnsupportedFeature, ValidationError
from smsgate.journal import EntryState, JournalError, JournalMismatch, delivery_status
from smsgate.journal.sqlite import SqliteJournal
from smsgate.model import Receipt, check_region
from smsgate.quiet import Window
from smsgate.status import DeliveryStatus
from smsgate.suppression import SqliteSuppressionList

__all__ = ["bulk", "track"]


@attrs.frozen
class Sending:
    """What a bulk run checks before each request (opt-outs and quiet hours), and when it
    has its messages sent (``at``: scheduled for then; else now)."""

    suppression: Path | None = None
    window: Window | None = None
    at: datetime | None = None


if TYPE_CHECKING:
    _ReadsText = click.ParamType[str]  # generic from click 8.2 on
else:
    _ReadsText = click.ParamType


class Delimiter(_ReadsText):
    """``--delimiter``: ``,``, ``;`` or ``tab`` (a tab itself, or ``\\t``, too)."""

    name = "delimiter"
    _READ: ClassVar[dict[str, str]] = {",": ",", ";": ";", "tab": "\t", "\t": "\t", "\\t": "\t"}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        read = self._READ.get(str(value).lower())
        if read is None:
            self.fail(
                f"{value!r} is not a delimiter smsgate reads: use ',', ';' or tab", param, ctx
            )
        return read


def _region(context: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_region(value)
    except ValidationError as exc:
        raise click.BadParameter(exc.problem, context, param) from None


def default_journal(file: Path) -> Path:
    """Where ``smsgate bulk FILE`` keeps its journal: beside the file."""
    return file.with_name(file.name + ".journal")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--text",
    help="The text of every row, with fields from its columns: 'Hi {name}, your code is "
    "{code}' (the file then has no text column).",
)
@click.option("--sender", help="Sender of the rows with no sender cell (else the gateway's).")
@click.option(
    "--region",
    callback=_region,
    help="Country of national numbers, e.g. GB (else the gateway's default_region).",
)
@click.option(
    "--at",
    "when",
    type=WHEN,
    help="Schedule every row for this time, in the forms `smsgate schedule --at` takes.",
)
@click.option(
    "--delimiter",
    type=Delimiter(),
    help="What separates the columns: ',', ';' or tab (default: the one the header uses).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Read and check every row, and count the messages, SMS parts and credits they "
    "take; send nothing, write no journal (opt-outs and --window are not looked at).",
)
@concurrency_option()
@click.option(
    "--patience",
    default=30.0,
    show_default=True,
    help="Seconds to look uncertain rows up at the provider, where it can (0: look once).",
)
@click.option(
    "--journal",
    "journal_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The journal file (default: FILE.journal beside FILE).",
)
@click.option("--no-journal", is_flag=True, help="Keep no journal: a rerun sends every row again.")
@click.option("--run", "run_name", help="The run's name in the journal (default: FILE's name).")
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write one CSV row per input: line, to, reference, outcome, ids, error.",
)
@click.option(
    "--grace",
    default=10.0,
    show_default=True,
    help="Seconds the requests in flight get to finish after Ctrl-C or SIGTERM.",
)
@click.option(
    "--suppression",
    "suppression_path",
    envvar="SMSGATE_SUPPRESSION",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A suppression list (SQLite, see `smsgate suppress`): rows to numbers on it are "
    "not sent (or SMSGATE_SUPPRESSION).",
)
@click.option(
    "--window",
    help="Send only from..to in each recipient's local time, e.g. 09:00-20:00 or "
    "'Mon-Fri 09:00-20:00'; other rows are scheduled for the next opening.",
)
@click.pass_context
def bulk(
    context: click.Context,
    file: Path,
    text: str | None,
    sender: str | None,
    region: str | None,
    when: datetime | None,
    delimiter: str | None,
    dry_run: bool,
    concurrency: int,
    patience: float,
    journal_path: Path | None,
    no_journal: bool,
    run_name: str | None,
    out_path: Path | None,
    grace: float,
    suppression_path: Path | None,
    window: str | None,
) -> int:
    """Send every row of a CSV FILE: columns to and text (or --text), optional sender and
    reference, and any others, whose cells the text may use as fields: 'Hi {name}' ({{ and
    }} for a brace, but not around a column's name; a row whose field is missing or empty
    stops the file before anything is sent). Columns are separated by ',', ';' or a tab.

    A journal beside FILE records every row, so that running the same command again after
    a stop or a crash resumes: rows already sent are not sent again. --dry-run sends
    nothing: it checks every row and counts what sending them would take.
    """
    settings = settings_of(context)
    # For the rows with no cell of their own.
    defaults = {key: value for key, value in (("sender", sender), ("region", region)) if value}
    if dry_run:
        if out_path is not None:
            raise click.UsageError("--dry-run sends nothing, so it writes no --out file")
        checked = check_csv(file, delimiter=delimiter, text=text, templates=False)
        return asyncio.run(check_and_count(settings, checked, defaults, when))
    mark_sending()
    if no_journal and (journal_path is not None or run_name is not None):
        raise click.UsageError("--no-journal goes without --journal and --run")
    for flag, seconds in (("--grace", grace), ("--patience", patience)):
        if not seconds >= 0:  # NaN too
            raise ValidationError(flag, "must be 0 or more seconds")
    checked = check_csv(file, delimiter=delimiter, text=text)
    if out_path is not None and out_path.resolve() in {
        file.resolve(),
        (journal_path or default_journal(file)).resolve(),
    }:
        raise ValidationError("--out", "must not be the input file or the journal")
    journal = None if no_journal else (journal_path or default_journal(file))
    if journal is not None and not journal.parent.is_dir():
        raise ValidationError(
            "--journal",
            f"cannot make {str(journal)!r}: there is no directory {str(journal.parent)!r}",
        )
    name = run_name or file.name
    quiet = None if window is None else Window.parse(window)
    result = asyncio.run(
        _bulk(
            settings,
            checked,
            concurrency,
            patience,
            journal,
            name,
            out_path,
            grace,
            Sending(suppression_path, quiet, when),
            defaults,
        )
    )
    summary, failure = result.summary, result.failure
    if isinstance(failure, JournalMismatch) or (
        isinstance(failure, JournalError) and summary.total == summary.earlier
    ):
        raise failure  # nothing was sent: one line is the whole story
    stopped = result.interrupted or summary.unsent or isinstance(failure, FileError)
    report(settings, result, resume=command_line() if stopped and journal else None)
    code = exit_code_of(result)
    if failure is not None:  # after the report: what was sent before it is said first
        line = failure_of(failure, sending=True).message
        say(Failure(line, code, type(failure).__name__), as_json=settings.as_json)
    return code


async def _bulk(
    settings: Settings,
    checked: CsvFile,
    concurrency: int,
    patience: float,
    journal_path: Path | None,
    run_name: str,
    out_path: Path | None,
    grace: float,
    sending: Sending,
    defaults: Mapping[str, str],
) -> BulkResult:
    index = RowIndex()
    rows = read_rows(checked, index, defaults)
    journal = SqliteJournal(journal_path) if journal_path is not None else None
    try:
        if journal is not None:  # before --out is written over, and before the bar
            await check_sending(journal, run_name, sending.at, sending.window)
        results = None if out_path is None else _results(out_path)
        suppression = None
        try:
            if sending.suppression is not None:
                suppression = SqliteSuppressionList(sending.suppression)
            async with settings.gateway() as gateway:
                doing = "sending" if sending.at is None else "scheduling"
                label = f"{doing} through {gateway.name}"
                result = await send_with_progress(
                    settings,
                    gateway,
                    rows,
                    checked.rows,
                    label,
                    at=sending.at,
                    concurrency=concurrency,
                    patience=patience,
                    journal=journal,
                    run_name=run_name if journal is not None else None,
                    index=index,
                    results=results,
                    grace=grace,
                    suppression=suppression,
                    window=sending.window,
                )
        finally:
            if suppression is not None:
                await suppression.aclose()
            if results is not None:
                results.close()
    finally:
        if journal is not None:
            await journal.aclose()
    if results is not None and result.failure is None and results.failure is not None:
        result = attrs.evolve(result, failure=results.failure)
    summary = result.summary
    if journal is not None and result.failure is None and 0 < summary.total == summary.earlier:
        settings.err.print(
            f"nothing to send: every row of {str(checked.path)!r} is done in journal "
            f"{str(journal_path)!r} (run {run_name!r}); to send the file again, pass "
            "--run with a new name, or --no-journal"
        )
    return result


def _results(path: Path) -> Results:
    """``--out PATH``, opened and its header written; refused if it cannot be."""
    try:
        file = path.open("w", newline="", buffering=1)
    except OSError as exc:
        raise ValidationError(
            "--out", f"cannot write {str(path)!r}: {exc.strerror or exc}; nothing was sent"
        ) from None
    try:
        return Results(file, repr(str(path)))
    except OSError as exc:
        with contextlib.suppress(OSError):
            file.close()  # closed, although the header it holds cannot be written
        raise ValidationError(
            "--out", f"cannot write {str(path)!r}: {exc.strerror or exc}; nothing was sent"
        ) from None


@cli.command()
@click.option(
    "--journal",
    "journal_path",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The journal of a bulk run.",
)
@click.option("--run", "run_name", help="The run to follow (needed if the journal holds more).")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between first looks.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to follow at most.")
@click.pass_context
def track(
    context: click.Context,
    journal_path: Path,
    run_name: str | None,
    interval: float,
    timeout: float,
) -> int:
    """Follow the accepted messages of a journalled bulk run to their final status, and
    record each status in the journal."""
    settings = settings_of(context)
    counts = asyncio.run(_track(settings, journal_path, run_name, interval, timeout))
    if settings.as_json:
        settings.out.print_json(json.dumps(counts))
    else:
        table = Table("delivery status", "messages", title=f"run {counts['run']!r}")
        for status, count in counts["statuses"].items():
            table.add_row(status, f"{count:,}")
        settings.out.print(table)
    unfinished = counts["statuses"].get("unfinished", 0)
    return FAILED if unfinished else OK


async def _track(
    settings: Settings,
    journal_path: Path,
    run_name: str | None,
    interval: float,
    seconds: float,
) -> dict[str, Any]:
    async with SqliteJournal(journal_path) as journal:
        names = await journal.runs()
        if run_name is None:
            if len(names) != 1:
                raise ValidationError(
                    "run", f"the journal holds runs {', '.join(map(repr, names))}: pick one"
                )
            run_name = names[0]
        elif run_name not in names:
            raise ValidationError("run", f"the journal holds no run {run_name!r}")
        async with settings.gateway() as gateway:
            log = await journal.open(run_name, provider=gateway.name)
            positions: dict[Receipt, int] = {}
            async for entry in log.entries():
                final = entry.delivery and DeliveryStatus(entry.delivery).is_final
                if entry.state is EntryState.ACCEPTED and not final:
                    receipt = Receipt(
                        provider=gateway.name,
                        message_id=entry.message_id,
                        to=entry.to or "",
                        status=delivery_status(entry.delivery or entry.status),
                        batch_id=entry.batch_id,
                        reference=entry.reference,
                        # Distinct for each input, so that two messages of one batch to one
                        # number are followed as two.
                        key=entry.key or f"position-{entry.position}",
                    )
                    positions[receipt] = entry.position
            if not positions:
                raise UnsupportedFeature(gateway.name, "tracking: no accepted message to follow")
            tracker = smsgate.track(gateway, positions, interval=interval, timeout=seconds)
            title = f"following {len(positions):,} messages of run {run_name!r}"
            board = StatusBoard(settings.err, title, enabled=not settings.as_json)
            recorded = shown = time.monotonic()
            try:
                with board:
                    board.show(_statuses(tracker.latest, positions))
                    async for _ in tracker:
                        now = time.monotonic()
                        if now - shown > SHOW_EVERY:
                            board.show(_statuses(tracker.latest, positions))
                            shown = now
                        if now - recorded > 5:
                            await _record(log, tracker.latest, positions)
                            recorded = time.monotonic()
                    board.show(_statuses(tracker.latest, positions))
            finally:
                await _record(log, tracker.latest, positions)
            statuses: dict[str, int] = {}
            async for entry in log.entries():
                if entry.state is EntryState.ACCEPTED:
                    word = entry.delivery or "unfinished"
                    if not DeliveryStatus(entry.delivery or "unknown").is_final:
                        word = "unfinished"
                    statuses[word] = statuses.get(word, 0) + 1
    return {"run": run_name, "statuses": statuses}


SHOW_EVERY = 0.25
"""Seconds between two counts of the statuses of the messages `smsgate track` follows."""


def _statuses(
    latest: Mapping[Any, smsgate.StatusReport], receipts: Iterable[Receipt]
) -> Iterator[DeliveryStatus]:
    """The status of each message followed: the last one seen, else its receipt's."""
    for receipt in receipts:
        report = latest.get(receipt)
        yield receipt.status if report is None else report.status


async def _record(log: Any, latest: Mapping[Any, Any], positions: Mapping[Receipt, int]) -> None:
    await log.record_delivery(
        [(positions[ref], report) for ref, report in latest.items() if ref in positions]
    )
