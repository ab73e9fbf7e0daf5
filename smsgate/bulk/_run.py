"""A bulk run as callers hold it: `BulkSend`, which puts its reading and sending parts to
work, streams their outcomes, and stops the run from any state with every input accounted
for; and `send_many` and `send_all`, which start one.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import logging
import time
import weakref
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
)
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import attrs

from smsgate import events
from smsgate.bulk._core import MISSING, Accepted, Item, outcome_of
from smsgate.bulk._dispatch import Dispatch
from smsgate.bulk._intake import Intake
from smsgate.bulk._summary import Progress, Summary
from smsgate.errors import ConfigurationError, TransportError
from smsgate.gateway import SmsGateway
from smsgate.journal import Journal, JournalError
from smsgate.outcomes import Outcome, OutcomeStatus
from smsgate.quiet import Window
from smsgate.suppression._base import SuppressionList

logger = logging.getLogger("smsgate.bulk")

__all__ = ["BulkSend", "send_all", "send_many"]


class _Stream:
    """The iterator of a run. When it is dropped (a ``break`` without ``async with``), the run
    stops, and its summary accounts for everything."""

    def __init__(self, run: BulkSend) -> None:
        self._run = run

    def __aiter__(self) -> Self:
        return self

    def __anext__(self) -> Awaitable[Outcome]:
        # Not a coroutine of its own: a traceback through it would keep the stream alive.
        return self._run._next()

    def __del__(self) -> None:
        self._run._dropped()


class BulkSend(Intake, Dispatch):
    """A running bulk send: iterate it for outcomes; read `summary` at any time.

    Use it with ``async with`` (or call `aclose`) when you may stop iterating early: requests
    in flight are cancelled, and every input is accounted for in `summary`. Leaving the loop
    (``break``, an exception, a cancellation) stops the run too, as soon as the loop lets
    go of its iterator.
    """

    # -- iteration --------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Outcome]:
        stream = self._stream() if self._stream is not None else None
        if stream is None:
            stream = _Stream(self)
            if self._stream is None:
                self._stream = weakref.ref(stream)
            else:  # the first iterator was dropped, which stopped the run: nothing more
                self._closed = True
        return stream

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the run: requests in flight are cancelled (their messages are uncertain),
        messages read but not sent are unsent, and outcomes not yet taken go to
        ``summary.unseen``. Returns when every request has ended and the journal, if any,
        holds every outcome."""
        self._abandon()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._log is not None:
            await self._log.flush()

    def stop(self) -> None:
        """Stop reading the source, and let the requests in flight finish.

        Their outcomes come out as usual; messages read but not yet in a request come out
        ``UNSENT`` when they have ended. Call `aclose` to stop the requests in flight too.
        """
        if not self._tasks:
            self._abandon()
            return
        producer = self._tasks[0]
        if producer.done():
            return
        self._stop_asked = True
        producer.cancel()
        # Work no request has taken stays held (unsent); each sender ends after its request.
        while not self._work.empty():
            self._work.get_nowait()
        for _ in range(self.concurrency):
            self._work.put_nowait(None)

    @property
    def session(self) -> int | None:
        """With a journal: this session of the run (1 for a new run, more when resumed)."""
        return None if self._log is None else self._log.session

    def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._started = time.monotonic()
        self._number = number = events.next_run()
        run = "" if self._run_name is None else f", journalled as run {self._run_name!r}"
        logger.info(
            "bulk run through %s started: %d requests in flight at most%s",
            self._gateway.name,
            self.concurrency,
            run,
        )
        if events.hooks:
            events.emit(
                events.RunStarted(
                    number, self._gateway.name, self.concurrency, self._run_name, time.time()
                )
            )
        # The run's tasks know its number (for the events of their requests), and the
        # caller's context is left as it was. Each task has a context of its own, as
        # create_task would give it: a task's context variables (the dispatch listener of
        # its request) must never be seen by another.
        context = contextvars.copy_context()
        context.run(events.current_run.set, number)

        def task(work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
            return asyncio.create_task(work, context=context.copy())

        workers = [task(self._produce())] + [task(self._consume()) for _ in range(self.concurrency)]
        lookups = [
            task(self._look_up())
            for _ in range(min(self.concurrency, 8) if self._lookups is not None else 0)
        ]
        self._tasks = [*workers, *lookups, task(self._finish(workers, lookups))]

    async def _next(self) -> Outcome:
        while True:
            ready = self._ready
            if ready:
                self._give_room(1)
                head = ready[0]
                if type(head) is not Accepted:
                    return ready.popleft()  # type: ignore[return-value]
                if head.left == 1:
                    ready.popleft()
                return head.take()
            await self._more()

    async def _drain(self) -> None:
        """Take every outcome to the end of the run without building the accepted ones,
        which nobody reads (`send_all`: the summary counted them as they came)."""
        while True:
            ready = self._ready
            if ready:
                head = ready.popleft()
                self._give_room(head.left if type(head) is Accepted else 1)
                continue
            try:
                await self._more()
            except StopAsyncIteration:
                return

    def _give_room(self, taken: int) -> None:
        """Outcomes were taken: their room is free again (the reader is woken if it waits)."""
        room = self._room
        self._room = room + taken
        if room <= 0:
            self._room_freed.set()

    async def _more(self) -> None:
        """Wait for more outcomes (starting the run the first time). Raises
        StopAsyncIteration when there will be none, or the run's failure."""
        if not self._tasks and not self._closed:
            self._start()
        if self._closed:
            failure, self._failure = self._failure, None
            if failure is not None:
                raise failure
            raise StopAsyncIteration
        if self._ended:
            # Whatever is still held gets its outcome now, in the stream.
            await self._cancel_tasks()
            self._account_for_the_rest(unseen=False)
            if self._log is not None:
                await self._log.flush()
            self._closed = True
            self._log_end("was stopped" if self._stop_asked else "ended")
            return
        self._woken.clear()
        await self._woken.wait()

    async def _cancel_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _dropped(self) -> None:
        """The stream was dropped: stop the run, in the event loop's own thread and never in
        the middle of counting outcomes (a garbage collection can come at any moment)."""
        loop = self._loop
        if loop is None:
            self._abandon()
            return
        if loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop and not self._delivering:
            self._abandon()
        else:
            loop.call_soon_threadsafe(self._abandon)

    def _abandon(self) -> None:
        """Stop the run now, from any state, and account for every input at once."""
        if self._closed:
            self._stash_ready()
            return
        self._closed = True
        for task in self._tasks:
            if not task.done():
                task.cancel()
        self._account_for_the_rest(unseen=True)
        if self._started:  # it had begun
            self._log_end("was stopped")

    def _log_end(self, how: str) -> None:
        if self._logged_end:
            return  # a stop that came while the run was ending
        self._logged_end = True
        summary = self.summary
        if events.hooks:
            events.emit(
                events.RunEnded(
                    self._number,
                    self._gateway.name,
                    how != "ended",
                    attrs.evolve(
                        summary,
                        reasons=collections.Counter(summary.reasons),
                        failures=list(summary.failures),
                        uncertainties=list(summary.uncertainties),
                        unsent_inputs=list(summary.unsent_inputs),
                        unseen=list(summary.unseen),
                    ),
                    time.monotonic() - self._started,
                )
            )
        logger.info(
            "bulk run through %s %s after %.1f s: %d accepted, %d failed, %d uncertain, "
            "%d unsent (%d from an earlier session)",
            self._gateway.name,
            how,
            time.monotonic() - self._started,
            summary.accepted,
            summary.failed,
            summary.uncertain,
            summary.unsent,
            summary.earlier,
        )

    def _account_for_the_rest(self, *, unseen: bool) -> None:
        """Give every input still held its outcome: uncertain if its request had left,
        unsent if it never did; then hand them over (or keep them in ``unseen``)."""
        stopped = TransportError(
            "the bulk send was stopped while this request was in flight",
            provider=self._gateway.name,
            maybe_sent=True,
        )
        rest: list[Outcome] = list(self._unresolved.values())
        self._unresolved.clear()
        for work in self._running:
            for index, message in zip(work.indexes, work.messages, strict=True):
                if self._held.pop(index, MISSING) is MISSING:
                    continue  # it has its outcome already
                if index in work.left or not self._announces:
                    key = message.key if work.left.get(index, False) else None
                    rest.append(outcome_of(index, OutcomeStatus.UNCERTAIN, message, stopped, key))
                else:
                    rest.append(outcome_of(index, OutcomeStatus.UNSENT, message))
        for index, unsent in sorted(self._held.items()):
            assert unsent is not None  # inputs that are not messages get their outcome at once
            rest.append(outcome_of(index, OutcomeStatus.UNSENT, unsent))
        self._held.clear()
        self._running.clear()
        self._buffers.clear()
        for outcome in rest:
            self.summary.add(outcome)
        self._ready.extend(rest)
        self._record(rest)
        if events.hooks and rest:
            self._settled(rest)
        if unseen:
            self._stash_ready()

    def _stash_ready(self) -> None:
        for ready in self._ready:
            if isinstance(ready, Accepted):
                self.summary.unseen.extend(ready.rest())
            else:
                self.summary.unseen.append(ready)
        self._ready.clear()

    async def _finish(
        self, workers: list[asyncio.Task[None]], lookups: list[asyncio.Task[None]]
    ) -> None:
        """End the stream when every task is done (once the uncertain sends set aside have
        been looked up), or at once if one of them breaks."""
        try:
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
            broken = [t.exception() for t in done if not t.cancelled() and t.exception()]
            if broken and self._failure is None:
                self._failure = broken[0]
            fatal = isinstance(self._failure, ConfigurationError | JournalError)
            if not broken and not fatal and lookups:
                await self._to_look_up.join()
        finally:
            self._ended = True
            self._woken.set()


def send_many(
    gateway: SmsGateway,
    messages: Iterable[Item] | AsyncIterable[Item],
    *,
    at: datetime | None = None,
    concurrency: int = 8,
    chunk_size: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    keep: int = 1000,
    resolve_uncertain: bool = False,
    resolve_patience: float = 30.0,
    journal: Journal | None = None,
    run: str | None = None,
    suppression: SuppressionList | None = None,
    window: Window | str | None = None,
) -> BulkSend:
    """Send (or, with ``at``, schedule) many messages, streaming one `Outcome` per input.

    Args:
        gateway: any `SmsGateway`; its batch requests are used when it is a `BatchingGateway`.
        messages: `Message` objects or mappings of their fields; read lazily.
        at: schedule every message for this aware datetime instead of sending now.
        concurrency: requests in flight at most.
        chunk_size: messages per batch request (at most the provider's limit, the default).
        on_progress: called with a `Progress` after each request; keep it cheap.
        keep: failed outcomes (and uncertain ones with their message) the summary keeps.
        resolve_uncertain: look uncertain outcomes up at the provider by their idempotency
            key as the run goes (`smsgate.resolve`), before handing them over: found ones
            come out ``ACCEPTED``, the others ``UNCERTAIN`` with an `smsgate.Unresolved`
            error. Nothing is ever sent again. They hold their room meanwhile, so the run
            stays within its memory bound.
        resolve_patience: seconds to keep looking for a message the provider has not logged.
        journal: a `smsgate.journal.Journal` (e.g. ``SqliteJournal("run.journal")``) that
            records every input, so that the run can be resumed after any crash.
        run: the run's id in the journal. A run that exists is resumed: its inputs are read
            again and checked against the journal (`smsgate.journal.JournalMismatch` if the
            source changed, before anything is sent); accepted and failed ones come out with
            their recorded outcome (``summary.earlier`` counts them) and are not sent again;
            ones whose request left without a recorded answer are looked up where the
            gateway can (``gateway.find``), else come out ``UNCERTAIN``; the rest are sent.
        suppression: numbers not to text (`smsgate.suppression.SuppressionList`): each
            request's recipients are looked up at once before it leaves, and those on the
            list come out ``SUPPRESSED`` (nothing sent; a resumed run looks them up again).
            A `smsgate.suppression.SuppressingGateway` brings its list by itself. If the
            list cannot be read, the run stops (`SuppressionError`, from the iteration) and
            what it had not sent comes out ``UNSENT``.
        window: quiet hours kept in each recipient's time zone (`smsgate.quiet.Window`, or
            text such as ``"09:00-20:00"``): as each request is about to leave, a message
            whose recipient is outside it is scheduled through the provider for the next
            moment the window is open in every zone of the number
            (`smsgate.quiet.next_opening`; with ``at``, the first such moment from ``at``),
            one request per sending time. A scheduled message is not looked up again in a
            suppression list when its time comes: the provider sends it. A number whose
            zones never share an open moment fails (`ValidationError`), nothing sent.

    Raises:
        ValidationError: an argument is invalid (at once).
        UnsupportedFeature: ``resolve_uncertain`` for a gateway that cannot look messages up.
        JournalError: from the iteration: the journal cannot be used or written (the run
            stops; what was in flight is accounted for in the summary).

    Example::

        async with send_many(gateway, rows, concurrency=16) as run:
            async for outcome in run:
                if outcome.status is not OutcomeStatus.ACCEPTED:
                    log.warning("row %d: %s", outcome.index, outcome.error)
        print(run.summary.accepted, run.summary.failed, run.summary.uncertain)
    """
    return BulkSend(
        gateway,
        messages,
        at=at,
        concurrency=concurrency,
        chunk_size=chunk_size,
        on_progress=on_progress,
        keep=keep,
        resolve_uncertain=resolve_uncertain,
        resolve_patience=resolve_patience,
        journal=journal,
        run=run,
        suppression=suppression,
        window=window,
    )


async def send_all(
    gateway: SmsGateway,
    messages: Iterable[Item] | AsyncIterable[Item],
    **options: Any,
) -> Summary:
    """Run `send_many` to the end and return its `Summary`.

    Takes the same options as `send_many`.
    """
    async with send_many(gateway, messages, **options) as run:
        await run._drain()
    return run.summary
