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
from typing import IO, Any

import attrs
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import smsgate
from smsgate.cli._common import FAILED, INTERRUPTED, OK, UNCERTAIN, Settings, exit_code
from smsgate.errors import SmsGateError
from smsgate.gateway import SmsGateway
from smsgate.journal import Journal
from smsgate.outcomes import Outcome, OutcomeStatus, can_find
from smsgate.quiet import Window
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

    def add(self, outcome: Outcome, line: int) -> None:
        if outcome.status is OutcomeStatus.UNSENT:
            self.unsent.append(line)
        elif outcome.status is OutcomeStatus.FAILED:
            self.failed.append(_problem(outcome, line))
        elif outcome.status is OutcomeStatus.UNCERTAIN:
            self.uncertain.append(_problem(outcome, line))

    def sort(self) -> None:
        self.failed.sort(key=lambda p: p["row"])
        self.uncertain.sort(key=lambda p: p["row"])
        self.unsent.sort()


def _problem(outcome: Outcome, line: int) -> dict[str, Any]:
    return {
        "row": line,
        "to": outcome.message.to if outcome.message is not None else None,
        "reference": outcome.reference,
        "status": outcome.status.value,
        "error": str(outcome.error),
        "key": outcome.key,
    }


class Results:
    """``--out``: one CSV row per input, written as its outcome arrives."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self._writer = csv.writer(file)
        self._writer.writerow(OUT_COLUMNS)

    def write(self, outcome: Outcome, line: int) -> None:
        receipt = outcome.receipt
        to = receipt.to if receipt else (outcome.message.to if outcome.message else "")
        self._writer.writerow(
            (
                line,
                to,
                outcome.reference or "",
                outcome.status.value,
                (receipt.message_id or "") if receipt else "",
                (receipt.batch_id or "") if receipt else "",
                "" if outcome.error is None else str(outcome.error),
            )
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
    concurrency: int = 8,
    patience: float | None = None,
    journal: Journal | None = None,
    run_name: str | None = None,
    lines: Sequence[int] | None = None,
    results: Results | None = None,
    grace: float = 10.0,
    suppression: SuppressionList | None = None,
    window: Window | None = None,
) -> BulkResult:
    """`send_many` with a progress bar on standard error (none with ``--json``), looking
    uncertain sends up where the gateway can (unless ``patience`` is ``None``), stopping
    gracefully on SIGINT and SIGTERM, and collecting every problem by line."""
    resolving = patience is not None and can_find(gateway)
    problems = Problems()
    started = time.perf_counter()

    def line_of(index: int) -> int:
        return lines[index] if lines is not None and index < len(lines) else index + 2

    def take(outcome: Outcome) -> None:
        line = line_of(outcome.index)
        problems.add(outcome, line)
        if results is not None:
            results.write(outcome, line)

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=settings.err,
        disable=settings.as_json,
    ) as bar:
        task = bar.add_task(label, total=total)

        def advanced(progress: smsgate.Progress) -> None:
            bar.update(task, completed=progress.done)

        run = smsgate.send_many(
            gateway,
            rows,
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
        bar.update(task, completed=run.summary.total)
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
