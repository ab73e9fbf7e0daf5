"""Bulk sending: many messages through any gateway, concurrently, one outcome per message.

`send_many` reads its input lazily (a list, an iterator or an async iterator), checks each
message before any request, groups messages into the provider's batch requests where the
gateway can batch (`BatchingGateway`), and otherwise sends them one by one, with at most
``concurrency`` requests in flight. It streams an `Outcome` for every input, in the order they
complete; each carries the input's index and reference.

Guarantees:

- Every input taken from the source gets exactly one outcome, however the run ends (done,
  ``break``, ``cancel()``, a timeout, a callback or a loop body that raises, ``aclose()``):
  ``ACCEPTED`` (with its receipt), ``FAILED`` (with a typed error; nothing was sent),
  ``UNCERTAIN`` (its request left and the provider may have taken it: look it up before
  sending it again) or ``UNSENT`` (the run stopped before its request left). Outcomes the run
  could not hand over because it was stopped are kept in ``summary.unseen``.
- An invalid message fails alone, before any request. A batch the provider refuses as a whole
  (a certain ``InvalidRequest``) is split until the bad messages are isolated, and the rest go
  out. An error on one request never stops the others, and no exception escapes for a
  per-message problem.
- At most ``concurrency * chunk_size`` messages are held at once, whatever the input's size.
- With a journal (``journal=``, ``run=``), each input is recorded as claimed, dispatched
  (before its request leaves) and answered, so that a run killed at any instant resumes
  with nothing sent twice and nothing skipped (`smsgate.journal`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import math
import time
import weakref
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Hashable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeAlias

import attrs

from smsgate.bulk._summary import Progress, Summary
from smsgate.checks import is_whole
from smsgate.errors import (
    ConfigurationError,
    InvalidRequest,
    SmsGateError,
    TransportError,
    UnsupportedFeature,
    ValidationError,
    may_have_sent,
)
from smsgate.gateway import (
    BatchingGateway,
    DispatchHook,
    SmsGateway,
    announces_dispatch,
    can_find,
    on_dispatch,
)
from smsgate.journal import (
    Claim,
    EntryState,
    Journal,
    JournalEntry,
    JournalError,
    JournalMismatch,
    JournalRun,
    delivery_status,
    digest_of,
)
from smsgate.model import Message, Receipt, check_send_time
from smsgate.outcomes import (
    Lookups,
    Outcome,
    OutcomeStatus,
    as_gateway_error,
    status_after,
)

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


@attrs.define(eq=False)
class _Work:
    """Messages for one request (one message when the gateway cannot batch)."""

    items: list[tuple[int, Message]]
    batched: bool
    left: dict[int, bool] = attrs.field(factory=dict)
    """Inputs whose request has left (and not come back refused), and whether it carried
    their idempotency keys."""


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


_MISSING: Any = object()


class BulkSend:
    """A running bulk send: iterate it for outcomes; read `summary` at any time.

    Use it with ``async with`` (or call `aclose`) when you may stop iterating early: requests
    in flight are cancelled, and every input is accounted for in `summary`. Leaving the loop
    (``break``, an exception, a cancellation) stops the run too, as soon as the loop lets
    go of its iterator.
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
        resolve_uncertain: bool,
        resolve_patience: float,
        journal: Journal | None,
        run: str | None,
    ) -> None:
        if not is_whole(concurrency, least=1):
            raise ValidationError("concurrency", "must be a whole number of at least 1")
        if not is_whole(keep):
            raise ValidationError("keep", "must be a whole number, 0 or more")
        if at is not None:
            check_send_time(at)
        if resolve_uncertain and not can_find(gateway):
            raise UnsupportedFeature(
                gateway.name,
                "looking messages up by their idempotency key",
                "leave resolve_uncertain out, and check uncertain messages yourself",
            )
        if (
            isinstance(resolve_patience, bool)
            or not isinstance(resolve_patience, int | float)
            or resolve_patience < 0
        ):
            raise ValidationError("resolve_patience", "must be a number of seconds, 0 or more")
        if (journal is None) != (run is None):
            raise ValidationError("run", "a journalled run needs both journal= and run=")
        if run is not None and (not isinstance(run, str) or not run.strip()):
            raise ValidationError("run", "must be a non-empty string naming the run")
        self._gateway = gateway
        self._batching = gateway if isinstance(gateway, BatchingGateway) else None
        limit = self._batching.batch_limit if self._batching else SINGLE_SEND_CHUNK
        if chunk_size is not None and (not is_whole(chunk_size, least=1)):
            raise ValidationError("chunk_size", "must be a whole number of at least 1")
        self.chunk_size = min(chunk_size or limit, limit)
        self.concurrency = concurrency
        self._input = messages
        self._at = at
        self._on_progress = on_progress
        self._announces = announces_dispatch(gateway)
        self._resolving = resolve_uncertain
        self._lookups = (
            Lookups(gateway, patience=resolve_patience, interval=_interval(resolve_patience))
            if can_find(gateway)
            else None
        )
        self._journal = journal
        self._run_name = run
        self._log: JournalRun | None = None
        self._claims: list[Claim] = []
        self.summary = Summary(keep=keep)
        self._read = 0
        self._in_flight = 0
        self._started = 0.0
        # Inputs taken from the source that have no outcome yet (``None``: not a message):
        # whatever happens, each gets exactly one, from here.
        self._held: dict[int, Message | None] = {}
        self._ready: collections.deque[Outcome] = collections.deque()
        self._woken = asyncio.Event()
        self._work: asyncio.Queue[_Work | None] = asyncio.Queue(maxsize=concurrency)
        # Outcomes that may still be held: taken when an input is read, given back when its
        # outcome is yielded, so that no more than concurrency x chunk_size are held.
        self._room = concurrency * self.chunk_size
        self._room_freed = asyncio.Event()
        self._buffers: dict[Hashable, list[tuple[int, Message]]] = {}
        self._running: set[_Work] = set()
        # Uncertain outcomes waiting to be looked up (they keep their room until then).
        self._unresolved: dict[int, Outcome] = {}
        self._to_look_up: asyncio.Queue[tuple[Outcome, float]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failure: BaseException | None = None
        self._delivering = False
        self._ended = False  # the run ended by itself (done, or an error)
        self._closed = False  # the run was stopped, or has accounted for everything
        self._stream: weakref.ref[_Stream] | None = None

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
        workers = [asyncio.create_task(self._produce())] + [
            asyncio.create_task(self._consume()) for _ in range(self.concurrency)
        ]
        lookups = [
            asyncio.create_task(self._look_up())
            for _ in range(min(self.concurrency, 8) if self._lookups is not None else 0)
        ]
        self._tasks = [*workers, *lookups, asyncio.create_task(self._finish(workers, lookups))]

    async def _next(self) -> Outcome:
        if not self._tasks and not self._closed:
            self._start()
        while True:
            if self._ready:
                self._room += 1
                self._room_freed.set()
                return self._ready.popleft()
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
                continue
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
            for index, message in work.items:
                if self._held.pop(index, _MISSING) is _MISSING:
                    continue  # it has its outcome already
                if index in work.left or not self._announces:
                    key = message.key if work.left.get(index, False) else None
                    rest.append(_outcome(index, OutcomeStatus.UNCERTAIN, message, stopped, key))
                else:
                    rest.append(_outcome(index, OutcomeStatus.UNSENT, message))
        for index, unsent in sorted(self._held.items()):
            assert unsent is not None  # inputs that are not messages get their outcome at once
            rest.append(_outcome(index, OutcomeStatus.UNSENT, unsent))
        self._held.clear()
        self._running.clear()
        self._buffers.clear()
        for outcome in rest:
            self.summary.add(outcome)
        self._ready.extend(rest)
        self._record(rest)
        if unseen:
            self._stash_ready()

    def _stash_ready(self) -> None:
        self.summary.unseen.extend(self._ready)
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

    # -- reading ----------------------------------------------------------------------------

    async def _produce(self) -> None:
        source: Any = None
        try:
            if self._journal is not None:
                assert self._run_name is not None
                self._log = await self._journal.open(self._run_name, provider=self._gateway.name)
            is_async = isinstance(self._input, AsyncIterable)
            source = aiter(self._input) if is_async else iter(self._input)  # type: ignore[arg-type]
            if self._log is not None and self._log.last_position >= 0:
                await self._replay(source, is_async)
            if is_async:
                await self._read_async(source)
            else:
                await self._read_sync(source)
            await self._flush_all()
        except (ConfigurationError, JournalError) as exc:  # it cannot go on at all
            self._failure = exc
        except Exception as exc:  # the input itself failed: stop reading, finish the rest
            self._failure = exc
            await self._flush_all()
        finally:
            await _close(source)
        # Not in a finally: once cancelled, nobody takes from the queue any more.
        for _ in range(self.concurrency):
            await self._work.put(None)

    async def _read_sync(self, items: Iterator[Item]) -> None:
        for item in items:  # taken only when there is room for it (checked below)
            index = self._read
            self._read += 1
            message = self._admit(index, item)
            if message is not None:
                await self._enqueue(index, message)
            if self._read % 256 == 0:
                await asyncio.sleep(0)  # let requests progress while a fast iterator is read
            if self._room <= 0:
                await self._wait_for_room()

    async def _read_async(self, items: AsyncIterator[Item]) -> None:
        while True:
            if self._room <= 0:
                await self._wait_for_room()
            try:
                item = await anext(items)
            except StopAsyncIteration:
                return
            index = self._read
            self._read += 1
            message = self._admit(index, item)
            if message is not None:
                await self._enqueue(index, message)

    async def _replay(self, source: Iterator[Item] | AsyncIterator[Item], is_async: bool) -> None:
        """Read the inputs a resumed run's journal holds, check each against it, and give the
        done ones their recorded outcome; send nothing until all are checked."""
        assert self._log is not None
        last = self._log.last_position
        entries = self._log.entries(upto=last)
        entry = await anext(entries, None)
        again: list[tuple[int, Message]] = []
        while self._read <= last:
            if self._room <= 0:
                await self._wait_for_room()
            try:
                item = await anext(source) if is_async else next(source)  # type: ignore[arg-type]
            except (StopIteration, StopAsyncIteration):
                raise JournalMismatch(
                    f"run {self._log.name!r}: the source ends after {self._read} inputs, but "
                    f"the journal holds {last + 1}: it is not the source this run was begun "
                    "with; nothing was sent",
                    position=self._read,
                ) from None
            index = self._read
            self._read += 1
            while entry is not None and entry.position < index:
                entry = await anext(entries, None)
            earlier = entry if entry is not None and entry.position == index else None
            message = self._admit(index, item, earlier)
            if message is not None:
                again.append((index, message))
                self._room += 1  # not held for room until it is sent, below
        for index, message in again:
            self._room -= 1
            await self._enqueue(index, message)
            if self._room <= 0:
                await self._wait_for_room()

    async def _wait_for_room(self) -> None:
        await self._flush_largest()
        while self._room <= 0:
            self._room_freed.clear()
            await self._room_freed.wait()

    def _admit(self, index: int, item: Item, earlier: JournalEntry | None = None) -> Message | None:
        """Account for one input as it is taken from the source, and return the message to
        send, if any (an invalid input, or one a resumed run's journal has an answer for,
        gets its outcome at once)."""
        self._room -= 1
        built = _as_message(self._gateway, item)
        message = built if isinstance(built, Message) else None
        if self._log is not None:
            digest = digest_of(item if message is None else message)
            if earlier is not None:
                if earlier.digest != digest:
                    raise JournalMismatch(
                        f"run {self._log.name!r}: input {index} is not what the journal "
                        f"recorded (to {earlier.to or '?'}, reference "
                        f"{earlier.reference or '-'}): the source has changed since the run "
                        "began; nothing was sent",
                        position=index,
                    )
                if earlier.state is not EntryState.CLAIMED:
                    self._replayed(index, earlier, message)
                    return None
            if message is None:
                claim = _claim((index, digest, None, _reference(item), None))
            else:
                claim = _claim((index, digest, message.to, message.reference, message.key))
            self._claims.append(claim)
            if len(self._claims) >= _CLAIMS:
                self._flush_claims()
        self._held[index] = message
        if message is None:
            assert isinstance(built, SmsGateError)
            failed = Outcome(index, OutcomeStatus.FAILED, _reference(item), None, error=built)
            self._deliver([failed])
        return message

    def _replayed(self, index: int, entry: JournalEntry, message: Message | None) -> None:
        """The outcome a resumed run gives an input its journal has an answer for."""
        reference = entry.reference
        if entry.state in (EntryState.DISPATCHED, EntryState.UNCERTAIN):
            # Its request left: look it up where the provider can; never send it again.
            error = TransportError(
                "its request left in an earlier session of this run, and no answer was "
                "recorded; it may have been sent",
                provider=self._gateway.name,
                maybe_sent=True,
            )
            uncertain = OutcomeStatus.UNCERTAIN
            self._held[index] = message
            self._deliver(
                [Outcome(index, uncertain, reference, message, error=error, key=entry.key)],
                look_up=True,
            )
            return
        if entry.state is EntryState.ACCEPTED:
            receipt = Receipt(
                provider=self._gateway.name,
                message_id=entry.message_id,
                to=entry.to or "",
                status=delivery_status(entry.status),
                batch_id=entry.batch_id,
                reference=reference,
                metadata=message.metadata if message is not None else {},
                key=entry.key,
            )
            outcome = Outcome(index, OutcomeStatus.ACCEPTED, reference, message, receipt)
        else:
            failure = SmsGateError(f"failed in an earlier session: {entry.error or 'no reason'}")
            outcome = Outcome(index, OutcomeStatus.FAILED, reference, message, error=failure)
        self.summary.earlier += 1
        self.summary.add(outcome)
        self._ready.append(outcome)
        self._woken.set()

    def _flush_claims(self) -> None:
        if self._claims and self._log is not None:
            self._log.claim(self._claims)
            self._claims = []

    async def _enqueue(self, index: int, message: Message) -> None:
        """Queue the work to send now, if any: a full group, or a message that goes alone."""
        key: Hashable | None = None
        if self._batching is not None:
            try:
                key = self._batching.batch_key(message, self._at)
            except ConfigurationError:
                raise
            except SmsGateError as exc:
                self._deliver([_outcome(index, OutcomeStatus.FAILED, message, exc)])
                return
        if key is None:
            await self._put(_Work([(index, message)], batched=False))
            return
        buffer = self._buffers.setdefault(key, [])
        buffer.append((index, message))
        if len(buffer) >= self.chunk_size:
            del self._buffers[key]
            await self._put(_Work(buffer, batched=True))

    async def _put(self, work: _Work) -> None:
        self._flush_claims()  # claims go in the journal before the dispatch of their request
        await self._work.put(work)

    async def _flush_largest(self) -> None:
        """Send the fullest group early: held messages are at their limit."""
        if self._buffers:
            key = max(self._buffers, key=lambda k: len(self._buffers[k]))
            await self._put(_Work(self._buffers.pop(key), batched=True))

    async def _flush_all(self) -> None:
        while self._buffers:
            key = next(iter(self._buffers))
            await self._put(_Work(self._buffers.pop(key), batched=True))
        self._flush_claims()

    # -- sending ----------------------------------------------------------------------------

    async def _consume(self) -> None:
        while (work := await self._work.get()) is not None:
            # Until its request ends, the work stays in _running: a stop that falls in the
            # middle finds what was in flight there.
            self._running.add(work)
            self._in_flight += len(work.items)
            if work.batched:
                await self._send_chunk(work, work.items, budget=_split_budget(len(work.items)))
            else:
                await self._send_one(work)
            self._in_flight -= len(work.items)
            self._running.discard(work)
            self._progress()
            if isinstance(self._failure, JournalError):
                raise self._failure  # nothing may leave unrecorded: end the run

    def _listener(self, work: _Work, items: list[tuple[int, Message]]) -> DispatchHook:
        async def heard(left: bool, keyed: bool) -> None:
            if not left:  # refused: none of them was taken, and the journal says so
                for index, _ in items:
                    work.left.pop(index, None)
                self._record([_outcome(index, OutcomeStatus.UNSENT, m) for index, m in items])
                return
            if self._log is not None:
                self._flush_claims()
                await self._log.dispatch([index for index, _ in items], keyed=keyed)
            for index, _ in items:
                work.left[index] = keyed

        return heard

    async def _send_one(self, work: _Work) -> None:
        [(index, message)] = work.items
        heard = self._listener(work, work.items)
        try:
            with on_dispatch(heard):
                if not self._announces:
                    await heard(True, False)
                if self._at is None:
                    receipt = await self._gateway.send(message)
                else:
                    receipt = await self._gateway.schedule(message, self._at)
        except Exception as exc:
            self._fail(work, work.items, exc)
        else:
            accepted = OutcomeStatus.ACCEPTED
            self._deliver([_outcome(index, accepted, message, receipt=receipt, key=receipt.key)])

    async def _send_chunk(
        self, work: _Work, items: list[tuple[int, Message]], budget: list[int]
    ) -> None:
        """Send ``items`` in one request; split a refused batch to isolate bad messages."""
        assert self._batching is not None
        budget[0] -= 1
        heard = self._listener(work, items)
        try:
            with on_dispatch(heard):
                if not self._announces:
                    await heard(True, False)
                receipts = await self._batching.send_chunk([m for _, m in items], self._at)
        except Exception as exc:
            refused = isinstance(exc, InvalidRequest) and not may_have_sent(exc)
            if not refused or len(items) == 1 or budget[0] < 2:
                self._fail(work, items, exc)
                return
            # Refused as a whole, so nothing was accepted: split to isolate the bad messages,
            # within a budget of requests so that a chunk of bad messages cannot cost two each.
            for index, _ in items:
                work.left.pop(index, None)
            middle = len(items) // 2
            await self._send_chunk(work, items[:middle], budget)
            if budget[0] < 1:
                self._fail(work, items[middle:], exc)
                return
            await self._send_chunk(work, items[middle:], budget)
        else:
            accepted = OutcomeStatus.ACCEPTED
            self._deliver(
                [
                    _outcome(index, accepted, message, receipt=receipt, key=receipt.key)
                    for (index, message), receipt in zip(items, receipts, strict=True)
                ]
            )

    def _fail(self, work: _Work, items: list[tuple[int, Message]], exc: Exception) -> None:
        if isinstance(exc, JournalError):
            # Its dispatch could not be recorded, so its request never left: unsent, and the
            # run ends (see _consume).
            self._failure = self._failure or exc
            self._deliver([_outcome(index, OutcomeStatus.UNSENT, m) for index, m in items])
            return
        first = items[0][0]
        left = first in work.left or not self._announces
        status = status_after(exc, left=left)
        error = _detached(as_gateway_error(exc, self._gateway.name))
        keyed = work.left.get(first, False)
        self._deliver(
            [
                _outcome(index, status, message, error, message.key if keyed else None)
                for index, message in items
            ]
        )

    # -- outcomes ---------------------------------------------------------------------------

    def _deliver(self, outcomes: list[Outcome], *, look_up: bool | None = None) -> None:
        """Count outcomes, record them, and queue them for the caller; uncertain ones are
        set aside to be looked up first when asked to (``look_up``, by default
        ``resolve_uncertain``) and the gateway can."""
        if self._closed:
            return  # a late answer after a stop: the stop has accounted for it
        look_up = self._resolving if look_up is None else look_up
        held, summary, ready = self._held, self.summary, self._ready
        taken: list[Outcome] = []
        self._delivering = True
        try:
            for outcome in outcomes:
                if held.pop(outcome.index, _MISSING) is _MISSING:
                    continue  # it has its outcome already
                if (
                    look_up
                    and self._lookups is not None
                    and outcome.status is OutcomeStatus.UNCERTAIN
                    and outcome.key
                ):
                    self._unresolved[outcome.index] = outcome
                    self._to_look_up.put_nowait((outcome, time.monotonic()))
                    continue
                summary.add(outcome)
                ready.append(outcome)
                taken.append(outcome)
            self._record(taken)
        finally:
            self._delivering = False
        self._woken.set()

    def _record(self, outcomes: Sequence[Outcome]) -> None:
        if self._log is not None and outcomes:
            self._flush_claims()  # an input's claim goes in the journal before its outcome
            self._log.record(outcomes)

    async def _look_up(self) -> None:
        """Look uncertain outcomes up as the run goes, and hand them over."""
        assert self._lookups is not None
        while True:
            outcome, since = await self._to_look_up.get()
            try:
                resolved = await self._lookups.resolve(outcome, since=since)
                if self._closed or self._unresolved.pop(outcome.index, None) is None:
                    continue  # the run was stopped meanwhile, and accounted for it
                if resolved.status is OutcomeStatus.ACCEPTED:
                    self.summary.resolved += 1
                self.summary.add(resolved)
                self._ready.append(resolved)
                self._record([resolved])
                self._woken.set()
            finally:
                self._to_look_up.task_done()

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


def _outcome(
    index: int,
    status: OutcomeStatus,
    message: Message,
    error: SmsGateError | None = None,
    key: str | None = None,
    *,
    receipt: Receipt | None = None,
) -> Outcome:
    return Outcome(index, status, message.reference, message, receipt, error, key)


_CLAIMS = 1000  # claims buffered before they are handed to the journal
# A Claim from a plain tuple, without NamedTuple's keyword-taking constructor: one is made
# for every message of a journalled run.
_claim = functools.partial(tuple.__new__, Claim)


def _interval(patience: float) -> float:
    """How often to look again for a message the provider has not logged yet."""
    return min(2.0, max(patience / 4, 0.05))


def _detached(error: SmsGateError) -> SmsGateError:
    """``error`` without the tracebacks that would keep every frame of its request (and so
    every message of its chunk) alive for as long as its outcome is kept."""
    seen: BaseException | None = error
    while seen is not None:
        seen.__traceback__ = None
        seen = seen.__cause__ or seen.__context__
    return error


def _reference(item: Any) -> str | None:
    value = item.get("reference") if isinstance(item, Mapping) else None
    return value if isinstance(value, str) else None


async def _close(source: Any) -> None:
    """Close the iterator the run read from, as a ``for`` loop would (generators run their
    ``finally`` blocks: files are closed)."""
    with contextlib.suppress(Exception):
        if hasattr(source, "aclose"):
            await source.aclose()
        elif hasattr(source, "close"):
            source.close()


def _split_budget(size: int) -> list[int]:
    """Requests one chunk may take: itself, and enough halving to isolate a few bad messages."""
    return [1 + 4 * max(1, math.ceil(math.log2(max(size, 2))))]


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
