"""``smsgate status --wait``: one message followed to its final status, shown while it
changes: a line that updates on a terminal, a line per change otherwise, nothing but the
final answer with ``--json``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

import smsgate
from smsgate.cli._common import Settings
from smsgate.gateway import SmsGateway
from smsgate.model import StatusReport
from smsgate.tracking import StatusTimeout

__all__ = ["wait_showing"]


async def wait_showing(
    settings: Settings,
    gateway: SmsGateway,
    message_id: str,
    *,
    timeout: float,  # noqa: ASYNC109 - the deadline belongs to the polling, not a call
) -> StatusReport:
    """Ask about ``message_id`` until its status is final, showing each status on stderr;
    that final report.

    Raises:
        StatusTimeout: no final status within ``timeout`` seconds.
        GatewayError: the provider refused to say (an unknown id, bad credentials ...).
    """
    tracker = smsgate.track(gateway, [message_id], concurrency=1, timeout=timeout)
    with _showing(settings, message_id) as show:
        async for report in tracker:
            show(report)
    if message_id in tracker.errors:
        raise tracker.errors[message_id]
    last = tracker.latest.get(message_id)
    if last is None or not last.status.is_final:
        where = "has no status" if last is None else f"is still {last.status}"
        raise StatusTimeout(
            f"message {message_id} {where} after {timeout:g} seconds; wait longer with --timeout",
            report=last,
        )
    return last


def _said(message_id: str, report: StatusReport) -> str:
    reason = f" ({report.reason})" if report.reason is not None else ""
    return f"message {message_id}: {report.status}{reason}"


@contextlib.contextmanager
def _showing(settings: Settings, message_id: str) -> Iterator[Callable[[StatusReport], None]]:
    """What shows each new status of the message."""
    if settings.as_json:
        yield lambda report: None
        return
    err = settings.err
    if not err.is_terminal:
        yield lambda report: err.print(
            _said(message_id, report), markup=False, highlight=False, soft_wrap=True
        )
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(escape(f"message {message_id}: asking the provider"), total=None)

        def show(report: StatusReport) -> None:
            waiting = "" if report.status.is_final else ", waiting for its final status"
            progress.update(task, description=escape(_said(message_id, report) + waiting))

        yield show
