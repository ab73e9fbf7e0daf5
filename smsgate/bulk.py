"""Bulk sending: many messages through any gateway, concurrently, one outcome per message.

`send_many` reads its input lazily (a list, an iterator or an async iterator), checks each
message before any request, groups messages into the provider's batch requests where the
gateway can batch (`BatchingGateway`), and otherwise sends them one by one, with at most
``concurrency`` requests in flight. It streams an `Outcome` for every input, in the order they
complete; each carries the input's index and reference.

Guarantees:

- Every input gets exactly one outcome: ``ACCEPTED`` (with its receipt), ``FAILED`` (with a
  typed error; nothing was sent), or ``UNCERTAIN`` (the provider may have accepted it: check
  before sending it again).
- An invalid message fails alone, before any request. A batch the provider refuses as a whole
  (``InvalidRequest``) is split until the bad messages are isolated, and the rest go out.
  An error on one request never stops the others, and no exception escapes for a per-message
  problem.
- At most ``concurrency * chunk_size`` messages are held at once, whatever the input's size.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Hashable,
    Iterable,
    Mapping,
    Sequence,
)
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import Any, Protocol, Self, TypeAlias, runtime_checkable

import attrs

from smsgate.errors import (
    ConfigurationError,
    GatewayError,
    InvalidRequest,
    SmsGateError,
    TransportError,
    ValidationError,
)
from smsgate.gateway import SmsGateway
from smsgate.model import Message, Receipt, check_send_time

__all__ = [
    "BatchingGateway",
    "BulkSend",
    "Outcome",
    "OutcomeStatus",
    "Progress",
    "Summary",
    "send_all",
    "send_many",
]

Item: TypeAlias = Message | Mapping[str, Any]
"""An input: a `Message`, or a mapping of its fields (``{"to": ..., "text": ...}``)."""

SINGLE_SEND_CHUNK = 1
"""Messages per request for gateways that cannot batch."""


@runtime_checkable
class BatchingGateway(Protocol):
    """What a gateway offers `send_many` when its provider takes many messages a request.

    Gateways without it are sent to one message at a time, concurrently.
    """

    @property
    def batch_limit(self) -> int:
        """The most messages one request may carry."""
        ...

    def batch_key(self, message: Message, at: datetime | None) -> Hashable | None:
        """Check ``message`` before any request, and say what it can share a request with.

        Messages with equal keys can go in one `send_chunk`; ``None`` means the message goes
        on its own (through ``send`` or ``schedule``).

        Raises:
            ValidationError, UnsupportedFeature: the provider cannot take this message.
            ConfigurationError: the gateway cannot send at all as configured.
        """
        ...

    async def send_chunk(self, messages: Sequence[Message], at: datetime | None) -> list[Receipt]:
        """Send (or schedule for ``at``) messages of one key in one request; a receipt each."""
        ...


class OutcomeStatus(StrEnum):
    """What became of one input."""

    ACCEPTED = "accepted"
    """The provider took it; ``receipt`` says how."""

    FAILED = "failed"
    """It was not sent; ``error`` says why. Fix it and send it again if you wish."""

    UNCERTAIN = "uncertain"
    """The provider may have taken it (a timeout after the request went out ...): check its
    status, or the provider's records, before sending it again."""


@attrs.frozen
class Outcome:
    """The outcome of one input of a bulk send.

    Attributes:
        index: the input's position, from 0.
        status: accepted, failed or uncertain.
        reference: the message's reference (or the input mapping's ``reference``).
        message: the message, or ``None`` when the input could not become one.
        receipt: for an accepted message.
        error: for a failed or uncertain one.
    """

    index: int
    status: OutcomeStatus
    reference: str | None
    message: Message | None = attrs.field(default=None, repr=False)
    receipt: Receipt | None = None
    error: SmsGateError | None = None


@attrs.frozen
class Progress:
    """Running counts of a bulk send, given to its ``on_progress`` callback."""

    read: int
    """Inputs read so far."""
    accepted: int
    failed: int
    uncertain: int
    in_flight: int
    """Messages in requests that have not finished."""
    elapsed: float
    """Seconds since the run started."""

    @property
    def done(self) -> int:
        """Inputs with an outcome."""
        return self.accepted + self.failed + self.uncertain


@attrs.define
class Summary:
    """Counts of a bulk send, and the first failed and uncertain outcomes for inspection.

    The stream of outcomes has every one; the summary keeps the first ``keep`` of each kind so
    that a run of a million messages stays small.
    """

    keep: int = 1000
    accepted: int = 0
    failed: int = 0
    uncertain: int = 0
    unsent: int = 0
    """Inputs read but never sent because the run was cancelled."""
    reasons: Counter[str] = attrs.field(factory=Counter)
    """Failed outcomes by ``FailureReason`` (or the error's class when it has none)."""
    failures: list[Outcome] = attrs.field(factory=list)
    uncertainties: list[Outcome] = attrs.field(factory=list)

    @property
    def total(self) -> int:
        """Inputs accounted for."""
        return self.accepted + self.failed + self.uncertain + self.unsent

    def add(self, outcome: Outcome) -> None:
        """Count one outcome."""
        if outcome.status is OutcomeStatus.ACCEPTED:
            self.accepted += 1
            return
        if outcome.status is OutcomeStatus.FAILED:
            self.failed += 1
            self.reasons[_reason(outcome.error)] += 1
            kept = self.failures
        else:
            self.uncertain += 1
            kept = self.uncertainties
        if len(kept) < self.keep:
            kept.append(outcome)


def _reason(error: SmsGateError | None) -> str:
    reason = getattr(error, "reason", None)
    return str(reason) if reason is not None else type(error).__name__


@attrs.define(eq=False)
class _Work:
    """Messages for one request (one message when the gateway cannot batch)."""

    items: list[tuple[int, Message]]
    batched: bool
    open: set[int] = attrs.field(factory=set)


_DONE = object()


class BulkSend:
    """A running bulk send: iterate it for outcomes; read `summary` at any time.

    Use it with ``async with`` (or call `aclose`) when you may stop iterating early, so that
    requests in flight are cancelled and accounted for.
    """

    def __init__(
        self,
        gateway: SmsGateway,
        messages: Iterable[Item] | AsyncIterable[Item],
        *,
        at: datetime | None,
        concurrency: int,
        chunk_size: int | None,
        on_progress: Callable[[Progress], None] | None,
        keep: int,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValidationError("concurrency", "must be a whole number of at least 1")
        if at is not None:
            check_send_time(at)
        self._gateway = gateway
        self._batching = gateway if isinstance(gateway, BatchingGateway) else None
        limit = self._batching.batch_limit if self._batching else SINGLE_SEND_CHUNK
        if chunk_size is not None and (
            isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1
        ):
            raise ValidationError("chunk_size", "must be a whole number of at least 1")
        self.chunk_size = min(chunk_size or limit, limit)
        self.concurrency = concurrency
        self._input = messages
        self._at = at
        self._on_progress = on_progress
        self.summary = Summary(keep=keep)
        self._read = 0
        self._in_flight = 0
        self._started = time.monotonic()
        self._outcomes: asyncio.Queue[list[Outcome] | object] = asyncio.Queue()
        self._work: asyncio.Queue[_Work | None] = asyncio.Queue(maxsize=concurrency)
        # Messages that may still be read: taken when one is read, given back when its
        # outcome is yielded, so that no more than concurrency x chunk_size are held.
        self._room = concurrency * self.chunk_size
        self._room_freed = asyncio.Event()
        self._buffers: dict[Hashable, list[tuple[int, Message]]] = {}
        self._running: set[_Work] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._failure: BaseException | None = None
        self._iterator: AsyncGenerator[Outcome, None] | None = None

    # -- iteration --------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Outcome]:
        if self._iterator is None:
            self._iterator = self._run()
        return self._iterator

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
        """Stop the run: requests in flight are cancelled and counted as uncertain, and
        messages read but not sent as unsent."""
        if self._iterator is not None:
            await self._iterator.aclose()

    async def _run(self) -> AsyncGenerator[Outcome, None]:
        producer = asyncio.create_task(self._produce())
        self._tasks = [producer] + [
            asyncio.create_task(self._consume()) for _ in range(self.concurrency)
        ]
        finished = asyncio.create_task(self._finish())
        try:
            while (outcomes := await self._outcomes.get()) is not _DONE:
                assert isinstance(outcomes, list)
                for outcome in outcomes:
                    self._room += 1
                    self._room_freed.set()
                    yield outcome
        finally:
            finished.cancel()
            await self._stop()
        if self._failure is not None:
            raise self._failure

    async def _finish(self) -> None:
        """End the stream when every task is done, or at once if one of them breaks."""
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_EXCEPTION)
        broken = [t.exception() for t in done if not t.cancelled() and t.exception()]
        if broken and self._failure is None:
            self._failure = broken[0]
        self._outcomes.put_nowait(_DONE)

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Whatever was in flight may have gone out; whatever was only buffered did not.
        stopped = TransportError(
            "the bulk send was stopped while this request was in flight",
            provider=self._gateway.name,
            maybe_sent=True,
        )
        for work in self._running:
            for index, message in work.items:
                if index in work.open:
                    self._outcome(index, message, OutcomeStatus.UNCERTAIN, error=stopped)
        self._running.clear()
        self._buffers.clear()
        summary = self.summary
        summary.unsent = self._read - (summary.accepted + summary.failed + summary.uncertain)

    # -- reading and grouping ---------------------------------------------------------------

    async def _produce(self) -> None:
        try:
            async for index, item in _enumerate(self._input):
                if self._room == 0:
                    await self._flush_largest()
                    while self._room == 0:
                        self._room_freed.clear()
                        await self._room_freed.wait()
                self._room -= 1
                self._read = index + 1
                work = self._take(index, item)
                if work is not None:
                    await self._work.put(work)
            await self._flush_all()
        except ConfigurationError as exc:  # the gateway cannot send at all: end the run
            self._failure = exc
        except Exception as exc:  # the input itself failed: stop reading, finish the rest
            self._failure = exc
            await self._flush_all()
        # Not in a finally: once cancelled, nobody takes from the queue any more.
        for _ in range(self.concurrency):
            await self._work.put(None)

    def _take(self, index: int, item: Item) -> _Work | None:
        """Check one input; return the work to send now, if any (a full group, or a message
        that goes alone)."""
        message = _as_message(self._gateway, item)
        if isinstance(message, SmsGateError):
            reference = item.get("reference") if isinstance(item, Mapping) else None
            self._emit(
                [
                    self._outcome(
                        index, None, OutcomeStatus.FAILED, error=message, reference=reference
                    )
                ]
            )
            return None
        key: Hashable | None = None
        if self._batching is not None:
            try:
                key = self._batching.batch_key(message, self._at)
            except ConfigurationError:
                raise
            except SmsGateError as exc:
                self._emit([self._outcome(index, message, OutcomeStatus.FAILED, error=exc)])
                return None
        if key is None:
            return _Work([(index, message)], batched=False)
        buffer = self._buffers.setdefault(key, [])
        buffer.append((index, message))
        if len(buffer) < self.chunk_size:
            return None
        del self._buffers[key]
        return _Work(buffer, batched=True)

    async def _flush_largest(self) -> None:
        """Send the fullest group early: held messages are at their limit."""
        if self._buffers:
            key = max(self._buffers, key=lambda k: len(self._buffers[k]))
            await self._work.put(_Work(self._buffers.pop(key), batched=True))

    async def _flush_all(self) -> None:
        buffers, self._buffers = self._buffers, {}
        for buffer in buffers.values():
            await self._work.put(_Work(buffer, batched=True))

    # -- sending ----------------------------------------------------------------------------

    async def _consume(self) -> None:
        while (work := await self._work.get()) is not None:
            work.open = {index for index, _ in work.items}
            self._running.add(work)
            self._in_flight += len(work.items)
            try:
                if work.batched:
                    await self._send_chunk(work, work.items, budget=_split_budget(len(work.items)))
                else:
                    await self._send_one(work)
            finally:
                self._in_flight -= len(work.items)
                self._running.discard(work)
                self._progress()

    async def _send_one(self, work: _Work) -> None:
        [(index, message)] = work.items
        try:
            if self._at is None:
                receipt = await self._gateway.send(message)
            else:
                receipt = await self._gateway.schedule(message, self._at)
        except Exception as exc:
            self._fail(work, work.items, exc)
        else:
            self._emit([self._outcome(index, message, OutcomeStatus.ACCEPTED, receipt, work=work)])

    async def _send_chunk(
        self, work: _Work, items: list[tuple[int, Message]], budget: list[int]
    ) -> None:
        """Send ``items`` in one request; split a refused batch to isolate bad messages."""
        assert self._batching is not None
        budget[0] -= 1
        try:
            receipts = await self._batching.send_chunk([m for _, m in items], self._at)
        except InvalidRequest as exc:
            # Refused as a whole, so nothing was accepted: split to isolate the bad messages,
            # within a budget of requests so that a chunk of bad messages cannot cost two each.
            if len(items) == 1 or budget[0] < 2:
                self._fail(work, items, exc)
                return
            middle = len(items) // 2
            await self._send_chunk(work, items[:middle], budget)
            if budget[0] < 1:
                self._fail(work, items[middle:], exc)
                return
            await self._send_chunk(work, items[middle:], budget)
        except Exception as exc:
            self._fail(work, items, exc)
        else:
            accepted = OutcomeStatus.ACCEPTED
            self._emit(
                [
                    self._outcome(index, message, accepted, receipt, work=work)
                    for (index, message), receipt in zip(items, receipts, strict=True)
                ]
            )

    def _fail(self, work: _Work, items: list[tuple[int, Message]], exc: Exception) -> None:
        if isinstance(exc, TransportError):
            status = OutcomeStatus.UNCERTAIN if exc.maybe_sent else OutcomeStatus.FAILED
            error: SmsGateError = exc
        elif isinstance(exc, SmsGateError):
            status, error = OutcomeStatus.FAILED, exc
        else:
            # An adapter's own bug: whether the request left is unknown.
            status = OutcomeStatus.UNCERTAIN
            error = GatewayError(f"unexpected error: {exc!r}", provider=self._gateway.name)
        self._emit(
            [
                self._outcome(index, message, status, error=error, work=work)
                for index, message in items
            ]
        )

    # -- outcomes ---------------------------------------------------------------------------

    def _outcome(
        self,
        index: int,
        message: Message | None,
        status: OutcomeStatus,
        receipt: Receipt | None = None,
        *,
        error: SmsGateError | None = None,
        work: _Work | None = None,
        reference: Any = None,
    ) -> Outcome:
        """One outcome, counted in the summary."""
        if work is not None:
            work.open.discard(index)
        if message is not None:
            reference = message.reference
        outcome = Outcome(index, status, _text(reference), message, receipt, error)
        self.summary.add(outcome)
        return outcome

    def _emit(self, outcomes: list[Outcome]) -> None:
        self._outcomes.put_nowait(outcomes)

    def _progress(self) -> None:
        if self._on_progress is None:
            return
        summary = self.summary
        self._on_progress(
            Progress(
                read=self._read,
                accepted=summary.accepted,
                failed=summary.failed,
                uncertain=summary.uncertain,
                in_flight=self._in_flight,
                elapsed=time.monotonic() - self._started,
            )
        )


def _split_budget(size: int) -> list[int]:
    """Requests one chunk may take: itself, and enough halving to isolate a few bad messages."""
    return [1 + 4 * max(1, math.ceil(math.log2(max(size, 2))))]


async def _enumerate(
    items: Iterable[Item] | AsyncIterable[Item],
) -> AsyncIterator[tuple[int, Item]]:
    index = 0
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield index, item
            index += 1
    else:
        for item in items:
            yield index, item
            index += 1
            if index % 256 == 0:
                await asyncio.sleep(0)  # let requests progress while a fast iterator is read


def _as_message(gateway: SmsGateway, item: Item) -> Message | SmsGateError:
    if isinstance(item, Message):
        return item
    if isinstance(item, Mapping):
        fields = dict(item)
        try:
            to, text = fields.pop("to"), fields.pop("text")
        except KeyError as exc:
            return ValidationError(str(exc.args[0]), "is missing from this input")
        try:
            return gateway.message(to, text, **fields)
        except SmsGateError as exc:
            return exc
        except TypeError as exc:
            return ValidationError("message", f"has a field Message does not take: {exc}")
    return ValidationError("message", f"must be a Message or a mapping, not {type(item).__name__}")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def send_many(
    gateway: SmsGateway,
    messages: Iterable[Item] | AsyncIterable[Item],
    *,
    at: datetime | None = None,
    concurrency: int = 8,
    chunk_size: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    keep: int = 1000,
) -> BulkSend:
    """Send (or, with ``at``, schedule) many messages, streaming one `Outcome` per input.

    Args:
        gateway: any `SmsGateway`; its batch requests are used when it is a `BatchingGateway`.
        messages: `Message` objects or mappings of their fields; read lazily.
        at: schedule every message for this aware datetime instead of sending now.
        concurrency: requests in flight at most.
        chunk_size: messages per batch request (at most the provider's limit, the default).
        on_progress: called with a `Progress` after each request; keep it cheap.
        keep: failed and uncertain outcomes the summary keeps for inspection.

    Raises:
        ValidationError: ``at``, ``concurrency`` or ``chunk_size`` is invalid (at once).

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
        async for _ in run:
            pass
    return run.summary
