"""Sending rows with a progress bar, stopping gracefully on signals, and reporting what
became of every row: what ``smsgate bulk`` and ``smsgate demo`` share."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import functools
import json
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import IO, Any

import attrs
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn
from rich.table import Column, Table
from rich.text import Text

import smsgate
from smsgate.cli._common import FAILED, INTERRUPTED, OK, UNCERTAIN, Settings, exit_code
from smsgate.cli._csv import FileError, RowIndex
from smsgate.errors import SmsGateError
from smsgate.gateway import SmsGateway
from smsgate.journal import Journal
from smsgate.outcomes import Outcome, OutcomeStatus, can_find
from smsgate.quiet import Window
from smsgate.status import DeliveryStatus
from smsgate.suppression import SuppressionList

SHOWN = 20
"""Rows of each kind a person is shown; ``--json`` and ``--out`` have them all."""
OUT_COLUMNS = ("line", "to", "reference", "outcome", "message_id", "batch_id", "error")


@attrs.define
class Problems:
    """The failed and uncertain rows of a run, and the unsent ones, by line."""

    failed: list[dict[str, Any]] = attrs.field(factory=list)
    uncertain: list[dict[str, Any]] = attrs.field(factory=list)
    unsent: list[int] = attrs.field(factory=list)

    def add(self, outcome: Outcome, line: int, written: str | None = None) -> None:
        """Count ``outcome`` of the row on ``line``, whose ``to`` cell was ``written``."""
        if outcome.status is OutcomeStatus.UNSENT:
            self.unsent.append(line)
        elif outcome.status is OutcomeStatus.FAILED:
            self.failed.append(_problem(outcome, line, written))
        elif outcome.status is OutcomeStatus.UNCERTAIN:
            self.uncertain.append(_problem(outcome, line, written))

    def sort(self) -> None:
        self.failed.sort(key=lambda p: p["row"])
        self.uncertain.sort(key=lambda p: p["row"])
        self.unsent.sort()


def _problem(outcome: Outcome, line: int, written: str | None) -> dict[str, Any]:
    return {
        "row": line,
        # The number as it was in the file where it did not make a message.
        "to": outcome.message.to if outcome.message is not None else written,
        "reference": outcome.reference,
        "status": outcome.status.value,
        "error": str(outcome.error),
        "key": outcome.key,
    }


class Results:
    """``--out``: one CSV row per input, written as its outcome arrives (to a file that
    flushes each line).

    Its header is written at once (an `OSError` then comes from here). A row that cannot be
    written sets `failure` and ends the writing: the run is to stop sending, as what it sent
    would be in no file.
    """

    def __init__(self, file: IO[str], name: str) -> None:
        self._file = file
        self._name = name
        self._writer = csv.writer(file)
        self._writer.writerow(OUT_COLUMNS)
        self.failure: FileError | None = None

    def write(self, outcome: Outcome, line: int, written: str | None = None) -> None:
        if self.failure is not None:
            return
        receipt = outcome.receipt
        to = receipt.to if receipt else (outcome.message.to if outcome.message else written)
        try:
            self._writer.writerow(
                (
                    line,
                    to or "",
                    outcome.reference or "",
                    outcome.status.value,
                    (receipt.message_id or "") if receipt else "",
                    (receipt.batch_id or "") if receipt else "",
                    "" if outcome.error is None else str(outcome.error),
                )
            )
        except OSError as exc:
            self._failed(exc)

    def close(self) -> None:
        """Close the file; a failure to write what it held is a `failure` too."""
        try:
            self._file.close()  # closed even when what it holds cannot be written
        except OSError as exc:
            if self.failure is None:
                self._failed(exc)

    def _failed(self, exc: OSError) -> None:
        self.failure = FileError(
            f"--out: cannot write {self._name}: {exc.strerror or exc}; the run stopped there: "
            "the rows after those in the report were not sent"
        )


@attrs.define
class Stopping:
    """What Ctrl-C (SIGINT) and SIGTERM did to a run."""

    signals: int = 0
    timer: asyncio.TimerHandle | None = None

    @property
    def interrupted(self) -> bool:
        return self.signals > 0


@contextlib.contextmanager
def stopping_on_signals(
    run: smsgate.BulkSend, grace: float, say: Callable[[str], None]
) -> Iterator[Stopping]:
    """The first SIGINT or SIGTERM stops reading and gives the requests in flight ``grace``
    seconds to be answered; the second (or the end of the grace) stops them at once."""
    loop = asyncio.get_running_loop()
    state = Stopping()
    closing: set[asyncio.Task[None]] = set()

    def close_now() -> None:
        task = loop.create_task(run.aclose())
        closing.add(task)
        task.add_done_callback(closed)

    def closed(task: asyncio.Task[None]) -> None:
        closing.discard(task)
        if not task.cancelled():
            task.exception()  # the run reports its own failure

    def on_signal() -> None:
        state.signals += 1
        if state.signals == 1:
            say(
                f"stopping: no new messages; waiting up to {grace:g} s for the requests in "
                "flight (Ctrl-C again to stop them now)"
            )
            run.stop()
            state.timer = loop.call_later(grace, close_now)
        else:
            close_now()

    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, on_signal)
    try:
        yield state
    finally:
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)
        if state.timer is not None:
            state.timer.cancel()


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


class _Done(ProgressColumn):
    """Rows with an outcome, of all the rows."""

    def render(self, task: Task) -> Text:
        total = "?" if task.total is None else f"{task.total:,.0f}"
        return Text(f"{task.completed:,.0f}/{total}", style="progress.download")


class _Rate(ProgressColumn):
    """Rows a second, over the last half minute."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None and task.finished and task.finished_time:
            speed = task.completed / task.finished_time
        return Text("-/s" if speed is None else f"{speed:,.0f}/s", style="progress.data.speed")


class _Eta(ProgressColumn):
    """The time left at the current rate; once done, the time it took."""

    def render(self, task: Task) -> Text:
        if task.finished:
            return Text(f"in {_clock(task.finished_time or 0)}", style="progress.elapsed")
        left = task.time_remaining
        return Text(f"ETA {'-' if left is None else _clock(left)}", style="progress.remaining")


def counts_line(accepted: int, failed: int, uncertain: int, suppressed: int = 0) -> Text:
    """``1,200 accepted · 3 failed · 0 uncertain`` (and the suppressed, if any)."""
    line = Text("  ")
    line.append(f"{accepted:,} accepted", style="green")
    line.append(" · ")
    line.append(f"{failed:,} failed", style="red" if failed else "")
    line.append(" · ")
    line.append(f"{uncertain:,} uncertain", style="yellow" if uncertain else "")
    if suppressed:
        line.append(f" · {suppressed:,} opted out")
    return line


class BulkBar(Progress):
    """A bulk run's progress: rows done of all, rows a second, the time left, and below the
    bar the live counts of accepted, failed and uncertain rows (`update` them as fields)."""

    def __init__(self, console: Console, *, disable: bool = False, **options: Any) -> None:
        fixed = Column(no_wrap=True)
        super().__init__(
            TextColumn("{task.description}"),
            BarColumn(bar_width=None),
            _Done(table_column=fixed),
            _Rate(table_column=fixed),
            _Eta(table_column=fixed),
            console=console,
            disable=disable,
            **options,
        )

    def get_renderables(self) -> Iterator[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        for task in self.tasks:
            fields = task.fields
            yield counts_line(
                fields.get("accepted", 0),
                fields.get("failed", 0),
                fields.get("uncertain", 0),
                fields.get("suppressed", 0),
            )


@attrs.frozen
class BulkResult:
    summary: smsgate.Summary
    problems: Problems
    elapsed: float
    interrupted: bool
    failure: SmsGateError | None
    session: int | None


async def send_with_progress(
    settings: Settings,
    gateway: SmsGateway,
    rows: Iterable[Mapping[str, Any]],
    total: int,
    label: str,
    *,
    at: datetime | None = None,
    concurrency: int = 8,
    patience: float | None = None,
    journal: Journal | None = None,
    run_name: str | None = None,
    index: RowIndex | None = None,
    results: Results | None = None,
    grace: float = 10.0,
    suppression: SuppressionList | None = None,
    window: Window | None = None,
) -> BulkResult:
    """`send_many` (with ``at``, scheduling) with a progress bar on standard error (none with
    ``--json``), looking uncertain sends up where the gateway can (unless ``patience`` is
    ``None``), stopping gracefully on SIGINT and SIGTERM, and collecting every problem by
    line (``index``: where each row came from; else row ``i`` is on line ``i + 2``)."""
    resolving = patience is not None and can_find(gateway)
    problems = Problems()
    started = time.perf_counter()
    rows_read = RowIndex() if index is None else index

    def take(outcome: Outcome) -> None:
        line, written = rows_read.line(outcome.index), rows_read.take(outcome.index)
        problems.add(outcome, line, written)
        if results is not None and results.failure is None:
            results.write(outcome, line, written)
            if results.failure is not None:
                run.stop()  # what it sent from now on would be in no --out file

    with BulkBar(settings.err, disable=settings.as_json) as bar:
        task = bar.add_task(label, total=total)

        def show(done: int, counts: smsgate.Progress | smsgate.Summary) -> None:
            bar.update(
                task,
                completed=done,
                accepted=counts.accepted,
                failed=counts.failed,
                uncertain=counts.uncertain,
                suppressed=counts.suppressed,
            )

        def advanced(progress: smsgate.Progress) -> None:
            show(progress.done, progress)

        run = smsgate.send_many(
            gateway,
            rows,
            at=at,
            concurrency=concurrency,
            on_progress=advanced,
            resolve_uncertain=resolving,
            resolve_patience=patience or 0.0,
            journal=journal,
            run=run_name,
            suppression=suppression,
            window=window,
        )
        failure: SmsGateError | None = None
        say = functools.partial(settings.err.print, soft_wrap=True)
        with stopping_on_signals(run, grace, say) as stopping:
            try:
                async with run:
                    async for outcome in run:
                        take(outcome)
            except SmsGateError as exc:  # the run could not go on: report what it did
                failure = exc
        for outcome in run.summary.unseen:
            take(outcome)
        if failure is None and results is not None:
            failure = results.failure
        show(run.summary.total, run.summary)
    problems.sort()
    return BulkResult(
        run.summary,
        problems,
        time.perf_counter() - started,
        stopping.interrupted,
        failure,
        run.session,
    )


def report(settings: Settings, result: BulkResult, *, resume: str | None = None) -> None:
    """The counts, the uncertain and failed rows (a person sees the first ones), and the
    unsent rows as line ranges; with ``--json``, all of it as JSON."""
    summary, problems = result.summary, result.problems
    if settings.as_json:
        data = {
            "accepted": summary.accepted,
            "failed": summary.failed,
            "uncertain": summary.uncertain,
            "unsent": summary.unsent,
            "suppressed": summary.suppressed,
            "resolved": summary.resolved,
            "earlier": summary.earlier,
            "interrupted": result.interrupted,
            "seconds": round(result.elapsed, 3),
            "problems": sorted([*problems.failed, *problems.uncertain], key=lambda p: p["row"]),
            "unsent_rows": problems.unsent,
            "resume": resume,
        }
        settings.out.print_json(json.dumps(data))
        return
    rate = summary.total / result.elapsed if result.elapsed > 0 else 0.0
    table = Table("accepted", "failed", "uncertain", "unsent", "seconds", "per second")
    table.add_row(
        f"{summary.accepted:,}",
        f"{summary.failed:,}",
        f"{summary.uncertain:,}",
        f"{summary.unsent:,}",
        f"{result.elapsed:.2f}",
        f"{rate:,.0f}",
    )
    out = settings.out
    out.print(table)
    if summary.suppressed:
        out.print(
            f"{summary.suppressed:,} rows were not sent: their recipients opted out "
            "(the suppression list holds them)"
        )
    if summary.earlier:
        out.print(
            f"{summary.earlier:,} rows were done in an earlier session of this run (journal): "
            "they were not sent again"
        )
    if summary.resolved:
        out.print(
            f"{summary.resolved:,} uncertain rows were looked up at the provider and found: "
            "they count as accepted"
        )
    for rows, title in (
        (
            problems.uncertain,
            "uncertain rows: the provider may have them; check before sending them again",
        ),
        (problems.failed, "failed rows: nothing was sent"),
    ):
        if rows:
            out.print(_listing(rows[:SHOWN], title))
            if len(rows) > SHOWN:
                out.print(
                    f"… and {len(rows) - SHOWN:,} more: every row is in --json, or in the file "
                    "--out FILE writes"
                )
    if problems.unsent:
        out.print(
            "unsent rows (never sent; safe to send again): lines " + line_ranges(problems.unsent),
            soft_wrap=True,
        )
    if result.interrupted:
        out.print("interrupted: the requests in flight were stopped")
    if resume is not None:
        out.print(f"to send the rest, run again: {resume}", soft_wrap=True)


def _listing(rows: Sequence[dict[str, Any]], title: str) -> Table:
    listed = Table("line", "to", "status", "why", title=title, title_justify="left")
    for row in rows:
        listed.add_row(str(row["row"]), row["to"] or "", row["status"], row["error"])
    return listed


def line_ranges(lines: Sequence[int]) -> str:
    """Sorted line numbers as ranges: ``2-4, 7``.

    >>> line_ranges([2, 3, 4, 7])
    '2-4, 7'
    """
    ranges: list[list[int]] = []
    for line in lines:
        if ranges and line == ranges[-1][1] + 1:
            ranges[-1][1] = line
        else:
            ranges.append([line, line])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def exit_code_of(result: BulkResult) -> int:
    """Interrupted; else some rows uncertain; else the error that stopped the run; else some
    rows failed or unsent; else done."""
    if result.interrupted:
        return INTERRUPTED
    if result.summary.uncertain:
        return UNCERTAIN
    if result.failure is not None:
        return exit_code(result.failure)
    if result.summary.failed or result.summary.unsent:
        return FAILED
    return OK


class StatusBoard:
    """What ``smsgate track`` shows while it follows messages: on a terminal, a live table of
    how many are at each status; elsewhere, a plain line when the counts change (at most
    every ``every`` seconds, and the last one); nothing when disabled (``--json``)."""

    def __init__(
        self,
        console: Console,
        title: str,
        *,
        enabled: bool = True,
        every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.title = title
        self._console, self._enabled, self._every, self._clock = console, enabled, every, clock
        self._counts: Mapping[DeliveryStatus, int] = {}
        self._started = clock()
        self._printed: tuple[str, float] | None = None  # the last plain line, and when
        self._live: Live | None = None
        if enabled and console.is_terminal:
            self._live = Live(
                console=console, get_renderable=self.table, transient=True, redirect_stdout=False
            )

    def __enter__(self) -> StatusBoard:
        if self._live is not None:
            self._live.start(refresh=True)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._live is not None:
            self._live.stop()
        elif self._enabled and self._printed is not None and self._printed[0] != self.line():
            self._console.print(self.line(), markup=False, highlight=False)

    def show(self, statuses: Iterable[DeliveryStatus]) -> None:
        """Show the current status of every message followed."""
        counts: dict[DeliveryStatus, int] = {}
        for status in statuses:
            counts[status] = counts.get(status, 0) + 1
        self._counts = {s: counts[s] for s in DeliveryStatus if s in counts}  # swapped whole
        if self._live is not None:
            self._live.refresh()
        if self._live is not None or not self._enabled:
            return
        line, now = self.line(), self._clock()
        if self._printed is None or (
            line != self._printed[0] and now - self._printed[1] >= self._every
        ):
            self._console.print(line, markup=False, highlight=False)
            self._printed = (line, now)

    def _final(self) -> tuple[int, int]:
        counts = self._counts
        return sum(n for s, n in counts.items() if s.is_final), sum(counts.values())

    def line(self) -> str:
        """``3 of 12 final: sent 9, delivered 3``."""
        final, total = self._final()
        shown = ", ".join(f"{status} {count:,}" for status, count in self._counts.items())
        return f"{final:,} of {total:,} final: {shown or 'none'}"

    def table(self) -> Group:
        """The counts by status, under the title, with how many are final and for how long
        they have been followed."""
        final, total = self._final()
        elapsed = _clock(self._clock() - self._started)
        table = Table("status", Column("messages", justify="right"))
        for status, count in self._counts.items():
            table.add_row(str(status), f"{count:,}")
        return Group(
            Text(self.title, style="bold"), table, Text(f"{final:,} of {total:,} final · {elapsed}")
        )
