"""Reading a bulk run's inputs: taking each from the source only when there is room for it,
checking it before any request (an invalid one fails alone, at once), claiming it in the
journal, checking a resumed run's inputs against what its journal holds, and grouping
messages into the work that `smsgate.bulk._dispatch` sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterable, AsyncIterator, Hashable, Iterator, Mapping
from typing import Any

from smsgate.bulk._core import Item, RunCore, Work, outcome_of
from smsgate.errors import ConfigurationError, SmsGateError, TransportError, ValidationError
from smsgate.gateway import SmsGateway
from smsgate.journal import (
    Claim,
    EntryState,
    JournalEntry,
    JournalError,
    JournalMismatch,
    delivery_status,
    digest_of,
)
from smsgate.model import Message, Receipt
from smsgate.outcomes import Outcome, OutcomeStatus

__all__ = ["Intake"]


class Intake(RunCore):
    """The part of a run that reads: its producer task, and what it queues for sending."""

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
            self._read = index + 1
            message = self._admit(index, item)
            if message is not None:
                work = self._group(index, message)  # `_enqueue`, without a coroutine a message
                if work is not None:
                    await self._put(work)
            if index & 255 == 255:
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
        if type(item) is Message and self._log is None:  # a bulk run's usual input
            self._held[index] = item
            return item
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
                # A suppressed one is looked up again, and sent if its recipient opted back in.
                if earlier.state not in (EntryState.CLAIMED, EntryState.SUPPRESSED):
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
        self._ready.append(outcome)  # settled in an earlier session: no event now
        self._woken.set()

    async def _enqueue(self, index: int, message: Message) -> None:
        """Queue the work to send now, if any: a full group, or a message that goes alone."""
        work = self._group(index, message)
        if work is not None:
            await self._put(work)

    def _group(self, index: int, message: Message) -> Work | None:
        """Put ``message`` in its group; return the work to send now, if any. (Not a
        coroutine: most messages only join a group, and a bulk run does this for each.)"""
        key: Hashable | None = None
        at = self._at  # with a window, each message's time is asked as its request leaves
        if self._batching is not None:
            try:
                key = self._batching.batch_key(message, at)
            except ConfigurationError:
                raise
            except SmsGateError as exc:
                self._deliver([outcome_of(index, OutcomeStatus.FAILED, message, exc)])
                return None
        if key is None:
            return Work([index], [message], batched=False, at=at)
        group = self._buffers.get(key)
        if group is None:
            group = self._buffers[key] = Work([], [], batched=True, at=at)
        indexes = group.indexes
        indexes.append(index)
        group.messages.append(message)
        if len(indexes) < self.chunk_size:
            return None
        del self._buffers[key]
        return group

    async def _put(self, work: Work) -> None:
        self._flush_claims()  # claims go in the journal before the dispatch of their request
        await self._work.put(work)

    async def _flush_largest(self) -> None:
        """Send the fullest group early: held messages are at their limit."""
        if self._buffers:
            key = max(self._buffers, key=lambda k: len(self._buffers[k].indexes))
            await self._put(self._buffers.pop(key))

    async def _flush_all(self) -> None:
        while self._buffers:
            key = next(iter(self._buffers))
            await self._put(self._buffers.pop(key))
        self._flush_claims()


_CLAIMS = 1000  # claims buffered before they are handed to the journal
# A Claim from a plain tuple, without NamedTuple's keyword-taking constructor: one is made
# for every message of a journalled run.
_claim = functools.partial(tuple.__new__, Claim)


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
