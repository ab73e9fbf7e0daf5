"""Sending a bulk run's work: each sender task takes one request's worth of messages, marks
them dispatched in the journal before their request leaves, sends them alone or as one
batch, splits a batch refused as a whole to isolate its bad messages, and turns the answer,
or the error, into one outcome a message.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from datetime import UTC, datetime

from smsgate.bulk._core import RunCore, Work, accepted, outcome_of
from smsgate.errors import InvalidRequest, RecipientSuppressed, SmsGateError, may_have_sent
from smsgate.gateway import on_dispatch
from smsgate.journal import JournalError
from smsgate.model import Message
from smsgate.outcomes import OutcomeStatus, as_gateway_error, status_after
from smsgate.quiet import next_opening
from smsgate.suppression._base import SuppressionError

__all__ = ["Dispatch"]


class Dispatch(RunCore):
    """The part of a run that sends: its sender tasks."""

    async def _consume(self) -> None:
        while (work := await self._work.get()) is not None:
            if self._suppression is not None:
                unsuppressed = await self._without_suppressed(work)
                if unsuppressed is None:
                    if isinstance(self._failure, SuppressionError):
                        raise self._failure  # the list cannot be read: send nothing more
                    continue
                work = unsuppressed
            for part in self._timed(work) if self._window is not None else (work,):
                await self._send(part)
                if isinstance(self._failure, JournalError):
                    raise self._failure  # nothing may leave unrecorded: end the run

    async def _send(self, work: Work) -> None:
        # Until its request ends, the work stays in _running: a stop that falls in the
        # middle finds what was in flight there.
        self._running.add(work)
        size = len(work.indexes)
        self._in_flight += size
        if work.batched:
            await self._send_chunk(work, work.indexes, work.messages, budget=_split_budget(size))
        else:
            await self._send_one(work)
        self._in_flight -= size
        self._running.discard(work)
        self._progress()

    def _timed(self, work: Work) -> list[Work]:
        """``work`` split by when each message may go, asked again as its request is about
        to leave: the window may have closed (or opened) since its messages were read and
        grouped. A message whose zones never share an open moment fails here."""
        assert self._window is not None
        now = datetime.now(UTC)
        parts: dict[datetime | None, Work] = {}
        failed = []
        for index, message in zip(work.indexes, work.messages, strict=True):
            try:
                opening = next_opening(message.to, self._window, self._at or now)
            except SmsGateError as exc:
                failed.append(outcome_of(index, OutcomeStatus.FAILED, message, exc))
                continue
            at = opening or self._at
            part = parts.get(at)
            if part is None:
                part = parts[at] = Work([], [], work.batched, at=at)
            part.indexes.append(index)
            part.messages.append(message)
        if failed:
            self._deliver(failed)
        return list(parts.values())

    async def _without_suppressed(self, work: Work) -> Work | None:
        """``work`` without the messages to recipients on the suppression list (given their
        ``SUPPRESSED`` outcome, all looked up in one query); None when nothing is left.
        If the list cannot be read, nothing of it is sent: ``UNSENT``, and the run ends."""
        assert self._suppression is not None
        try:
            found = await self._suppression.suppressed([m.to for m in work.messages], e164=True)
        except Exception as exc:
            failure = (
                exc
                if isinstance(exc, SuppressionError)
                else SuppressionError(f"the suppression list cannot be read: {exc!r}")
            )
            self._failure = self._failure or failure
            pairs = zip(work.indexes, work.messages, strict=True)
            self._deliver([outcome_of(i, OutcomeStatus.UNSENT, m, failure) for i, m in pairs])
            return None
        if not found:
            return work
        indexes: list[int] = []
        messages: list[Message] = []
        refused = []
        for index, message in zip(work.indexes, work.messages, strict=True):
            if message.to in found:
                error = RecipientSuppressed(message.to)
                refused.append(outcome_of(index, OutcomeStatus.SUPPRESSED, message, error))
            else:
                indexes.append(index)
                messages.append(message)
        self._deliver(refused)
        return Work(indexes, messages, work.batched, at=work.at) if indexes else None

    async def _send_one(self, work: Work) -> None:
        [index], [message] = work.indexes, work.messages
        heard = _Listener(self, work, work.indexes, work.messages)
        try:
            with heard.listening():
                if not self._announces:
                    await heard(True, False)
                if work.at is None:
                    receipt = await self._gateway.send(message)
                else:
                    receipt = await self._gateway.schedule(message, work.at)
        except Exception as exc:
            self._fail(work, work.indexes, work.messages, exc)
        else:
            self._deliver([accepted(index, message, receipt)])

    async def _send_chunk(
        self, work: Work, indexes: list[int], messages: list[Message], budget: list[int]
    ) -> None:
        """Send ``messages`` in one request; split a refused batch to isolate bad ones."""
        assert self._batching is not None
        budget[0] -= 1
        heard = _Listener(self, work, indexes, messages)
        try:
            with heard.listening():
                if not self._announces:
                    await heard(True, False)
                receipts = await self._batching.send_chunk(messages, work.at)
        except Exception as exc:
            refused = isinstance(exc, InvalidRequest) and not may_have_sent(exc)
            if not refused or len(indexes) == 1 or budget[0] < 2:
                self._fail(work, indexes, messages, exc)
                return
            # Refused as a whole, so nothing was accepted: split to isolate the bad messages,
            # within a budget of requests so that a chunk of bad messages cannot cost two each.
            for index in indexes:
                work.left.pop(index, None)
            middle = len(indexes) // 2
            await self._send_chunk(work, indexes[:middle], messages[:middle], budget)
            if budget[0] < 1:
                self._fail(work, indexes[middle:], messages[middle:], exc)
                return
            await self._send_chunk(work, indexes[middle:], messages[middle:], budget)
        else:
            if len(receipts) != len(indexes):
                raise ValueError(
                    f"{self._gateway.name}: send_chunk gave {len(receipts)} receipts for "
                    f"{len(indexes)} messages"
                )
            self._deliver_accepted(indexes, messages, receipts)

    def _fail(
        self, work: Work, indexes: list[int], messages: list[Message], exc: Exception
    ) -> None:
        pairs = zip(indexes, messages, strict=True)
        if isinstance(exc, JournalError):
            # Its dispatch could not be recorded, so its request never left: unsent, and the
            # run ends (see _consume).
            self._failure = self._failure or exc
            self._deliver([outcome_of(index, OutcomeStatus.UNSENT, m) for index, m in pairs])
            return
        first = indexes[0]
        left = first in work.left or not self._announces
        status = status_after(exc, left=left)
        error = _detached(as_gateway_error(exc, self._gateway.name))
        keyed = work.left.get(first, False)
        self._deliver(
            [
                outcome_of(index, status, message, error, message.key if keyed else None)
                for index, message in pairs
            ]
        )


class _Listener:
    """Hears whether the request of some messages left (`smsgate.gateway.on_dispatch`), and
    records it in their work and the journal.

    Released once the request is over: copies of the context made during it keep the
    listener — a timer's, such as the request's own timeout, which asyncio keeps until its
    time even when cancelled — and must not keep the messages with it.
    """

    __slots__ = ("_indexes", "_messages", "_run", "_work")

    def __init__(
        self, run: Dispatch, work: Work, indexes: list[int], messages: list[Message]
    ) -> None:
        self._run: Dispatch | None = run
        self._work: Work | None = work
        self._indexes, self._messages = indexes, messages

    @contextlib.contextmanager
    def listening(self) -> Iterator[None]:
        """Hear the requests made in this block (`on_dispatch`); let go once it ends."""
        try:
            with on_dispatch(self):
                yield
        finally:
            self._run = self._work = None
            self._indexes, self._messages = [], []

    async def __call__(self, left: bool, keyed: bool) -> None:
        run, work, indexes = self._run, self._work, self._indexes
        if run is None or work is None:
            return  # its request is over
        if not left:  # refused: none of them was taken, and the journal says so
            for index in indexes:
                work.left.pop(index, None)
            unsent = OutcomeStatus.UNSENT
            run._record(
                [
                    outcome_of(index, unsent, m)
                    for index, m in zip(indexes, self._messages, strict=True)
                ]
            )
            return
        if run._log is not None:
            run._flush_claims()
            await run._log.dispatch(list(indexes), keyed=keyed)
        work.left.update(dict.fromkeys(indexes, keyed))


def _detached(error: SmsGateError) -> SmsGateError:
    """``error`` without the tracebacks that would keep every frame of its request (and so
    every message of its chunk) alive for as long as its outcome is kept."""
    seen: BaseException | None = error
    while seen is not None:
        seen.__traceback__ = None
        seen = seen.__cause__ or seen.__context__
    return error


def _split_budget(size: int) -> list[int]:
    """Requests one chunk may take: itself, and enough halving to isolate a few bad messages."""
    return [1 + 4 * max(1, math.ceil(math.log2(max(size, 2))))]
