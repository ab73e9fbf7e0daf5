"""The core of a bulk run, which its other parts build on: its settings and state, checked and
set up once, and its books, through which each input gets exactly one outcome (counted in
the summary, recorded in the journal, looked up first where asked, and handed over).

`smsgate.bulk._intake` reads the inputs, `smsgate.bulk._dispatch` sends them, and
`smsgate.bulk._run` puts both to work as `smsgate.bulk.BulkSend`.
"""

from __future__ import annotations

import asyncio
import collections
import time
import weakref
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Hashable,
    Iterable,
    Mapping,
    Sequence,
)
from datetime import datetime
from typing import Any, TypeAlias

import attrs

from smsgate import events
from smsgate.bulk._summary import Progress, Summary
from smsgate.checks import is_whole
from smsgate.errors import SmsGateError, UnsupportedFeature, ValidationError
from smsgate.gateway import BatchingGateway, SmsGateway, announces_dispatch, can_find
from smsgate.journal import Claim, Journal, JournalRun
from smsgate.model import Message, Receipt, check_send_time, slot_setters
from smsgate.outcomes import Lookups, Outcome, OutcomeStatus
from smsgate.quiet import Window
from smsgate.suppression._base import SuppressionList
from smsgate.suppression._gateway import SuppressingGateway

__all__ = [
    "MISSING",
    "SINGLE_SEND_CHUNK",
    "Accepted",
    "Item",
    "RunCore",
    "Work",
    "outcome_of",
]

Item: TypeAlias = Message | Mapping[str, Any]
"""An input: a `Message`, or a mapping of its fields (``{"to": ..., "text": ...}``)."""

SINGLE_SEND_CHUNK = 1
"""Messages per request for gateways that cannot batch."""


@attrs.define(eq=False)
class Work:
    """Messages for one request (one message when the gateway cannot batch)."""

    indexes: list[int]
    """The inputs' positions, and below, their messages: two flat lists rather than a pair
    each, which the garbage collector would walk again and again while they wait."""
    messages: list[Message]
    batched: bool
    left: dict[int, bool] = attrs.field(factory=dict)
    """Inputs whose request has left (and not come back refused), and whether it carried
    their idempotency keys."""
    at: datetime | None = None
    """When the provider is to send them (None: now)."""


MISSING: Any = object()
"""What a dict lookup finds for an input that has its outcome already."""


class Accepted:
    """The outcomes of one accepted request, counted when it answered and built one by one
    as the caller takes them.

    A bulk run hands over thousands of outcomes a second; built when their request answers,
    each (and its receipt) would wait in the queue long enough to be walked by the garbage
    collector again and again. Built as they are taken, they live only as long as the caller
    keeps them.
    """

    __slots__ = ("_indexes", "_messages", "_receipts", "_taken", "left")

    def __init__(
        self, indexes: list[int], messages: list[Message], receipts: Sequence[Receipt]
    ) -> None:
        self._indexes, self._messages, self._receipts = indexes, messages, receipts
        self._taken = 0
        self.left = len(indexes)
        """The outcomes not taken yet."""

    def take(self) -> Outcome:
        """The next outcome."""
        at = self._taken
        self._taken = at + 1
        self.left -= 1
        return accepted(self._indexes[at], self._messages[at], self._receipts[at])

    def rest(self) -> list[Outcome]:
        """Every outcome not taken yet."""
        return [self.take() for _ in range(self.left)]


class RunCore:
    """What every part of a `smsgate.bulk.BulkSend` shares: its settings, its state, and the
    books that give each input exactly one outcome."""

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
        suppression: SuppressionList | None = None,
        window: Window | str | None = None,
    ) -> None:
        if isinstance(gateway, SuppressingGateway):  # sent through, a request at a time
            if suppression is not None and suppression is not gateway.suppression:
                raise ValidationError(
                    "suppression", "the gateway brings a suppression list already: give one"
                )
            suppression = gateway.suppression
            gateway = gateway.gateway
        if suppression is not None and not isinstance(suppression, SuppressionList):
            raise ValidationError("suppression", "must be a SuppressionList")
        if isinstance(window, str):
            window = Window.parse(window)
        elif window is not None and not isinstance(window, Window):
            raise ValidationError("window", "must be a Window or text such as '09:00-20:00'")
        self._window = window
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
        self._suppression = suppression
        self._log: JournalRun | None = None
        self._claims: list[Claim] = []
        self.summary = Summary(keep=keep)
        self._read = 0
        self._in_flight = 0
        self._started = 0.0
        # Inputs taken from the source that have no outcome yet (``None``: not a message):
        # whatever happens, each gets exactly one, from here.
        self._held: dict[int, Message | None] = {}
        # Outcomes for the caller, in order; an accepted request's as one `Accepted`.
        self._ready: collections.deque[Outcome | Accepted] = collections.deque()
        self._woken = asyncio.Event()
        self._work: asyncio.Queue[Work | None] = asyncio.Queue(maxsize=concurrency)
        # Outcomes that may still be held: taken when an input is read, given back when its
        # outcome is yielded, so that no more than concurrency x chunk_size are held.
        self._room = concurrency * self.chunk_size
        self._room_freed = asyncio.Event()
        self._buffers: dict[Hashable, Work] = {}  # groups filling up, by batch key
        self._running: set[Work] = set()
        # Uncertain outcomes waiting to be looked up (they keep their room until then).
        self._unresolved: dict[int, Outcome] = {}
        self._to_look_up: asyncio.Queue[tuple[Outcome, float]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failure: BaseException | None = None
        self._delivering = False
        self._ended = False  # the run ended by itself (done, or an error)
        self._closed = False  # the run was stopped, or has accounted for everything
        self._stream: weakref.ref[AsyncIterator[Outcome]] | None = None  # see _run._Stream
        self._number = 0  # the run's number in this process, for its events (from _start)
        self._logged_end = False
        self._stop_asked = False  # stop() was called: the run ends without reading the rest

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
                if held.pop(outcome.index, MISSING) is MISSING:
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
        if events.hooks and taken:
            self._settled(taken)
        self._woken.set()

    def _deliver_accepted(
        self, indexes: list[int], messages: list[Message], receipts: Sequence[Receipt]
    ) -> None:
        """`_deliver` the outcomes of an accepted request, built as the caller takes them
        (see `Accepted`); with a journal, which records each, built now."""
        if self._log is not None or self._closed:
            self._deliver(
                [
                    accepted(index, message, receipt)
                    for index, message, receipt in zip(indexes, messages, receipts, strict=True)
                ]
            )
            return
        held = self._held
        self._delivering = True  # a dropped stream waits until this is counted
        try:
            fresh = [held.pop(index, MISSING) is not MISSING for index in indexes]
            if not all(fresh):  # some have their outcome already: keep the others
                kept = [at for at, new in enumerate(fresh) if new]
                indexes = [indexes[at] for at in kept]
                messages = [messages[at] for at in kept]
                receipts = [receipts[at] for at in kept]
            if indexes:
                self.summary.accepted += len(indexes)
                self._ready.append(Accepted(indexes, messages, receipts))
        finally:
            self._delivering = False
        if events.hooks and indexes:
            self._settled(events.AcceptedOutcomes(indexes, messages, receipts))
        self._woken.set()

    def _settled(self, outcomes: Sequence[Outcome]) -> None:
        """Tell the hooks of outcomes just settled."""
        events.emit(events.Outcomes(self._gateway.name, outcomes, self._number))

    def _record(self, outcomes: Sequence[Outcome]) -> None:
        if self._log is not None and outcomes:
            self._flush_claims()  # an input's claim goes in the journal before its outcome
            self._log.record(outcomes)

    def _flush_claims(self) -> None:
        if self._claims and self._log is not None:
            self._log.claim(self._claims)
            self._claims = []

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
                if events.hooks:
                    self._settled([resolved])
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
                suppressed=summary.suppressed,
            )
        )


def outcome_of(
    index: int,
    status: OutcomeStatus,
    message: Message,
    error: SmsGateError | None = None,
    key: str | None = None,
    *,
    receipt: Receipt | None = None,
) -> Outcome:
    """The outcome of one message of a request."""
    return Outcome(index, status, message.reference, message, receipt, error, key)


# Each field of Outcome, in order: accepted() sets them all.
_set_index, _set_status, _set_reference, _set_message, _set_receipt, _set_error, _set_key = (
    slot_setters(Outcome)
)
_ACCEPTED = OutcomeStatus.ACCEPTED


def accepted(index: int, message: Message, receipt: Receipt) -> Outcome:
    """``outcome_of(index, ACCEPTED, message, receipt=receipt, key=receipt.key)``, its slots
    set as attrs' own ``__init__`` sets them, without its call per field: a bulk run makes
    one for each message it sends."""
    outcome: Outcome = object.__new__(Outcome)
    _set_index(outcome, index)
    _set_status(outcome, _ACCEPTED)
    _set_reference(outcome, message.reference)
    _set_message(outcome, message)
    _set_receipt(outcome, receipt)
    _set_error(outcome, None)
    _set_key(outcome, receipt.key)
    return outcome


def _interval(patience: float) -> float:
    """How often to look again for a message the provider has not logged yet."""
    return min(2.0, max(patience / 4, 0.05))
