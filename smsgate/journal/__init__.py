"""A durable record of a bulk run, so that a run killed at any instant resumes with nothing
sent twice and nothing skipped.

Each input of a journalled run (`smsgate.send_many` with ``journal=`` and ``run=``) is
recorded in three steps:

==============  ==============================================  ==========================
state           when it is written                              after a crash
==============  ==============================================  ==========================
``CLAIMED``     read from the source, in no request yet         sent on resume
``DISPATCHED``  durably, *before* the request that carries it   looked up at the provider
                leaves the process                              (``find``), else uncertain
``ACCEPTED``,   when the provider's answer (or the stop) is     skipped on resume
``FAILED``,     known
``UNCERTAIN``
==============  ==============================================  ==========================

The middle step is the point: marking inputs when they are read and recording outcomes
afterwards would, after a crash, confuse the inputs that were read ahead but never sent with
the ones whose request left.

An input is known by its position in the source, and checked by a checksum of its content (the
recipient, text, sender, reference and every other field): a resumed run must read the same
inputs in the same order, and one that does not is refused (`JournalMismatch`) before
anything is sent.

`Journal` and `JournalRun` are protocols, so that other stores can plug in;
`smsgate.journal.sqlite.SqliteJournal` is the embedded default, and
`smsgate.journal.postgres.PostgresJournal` keeps runs in PostgreSQL for many processes and
machines (``pip install "smsgate[postgres]"``).
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Mapping, Sequence
from enum import IntEnum
from typing import Any, NamedTuple, Protocol, runtime_checkable

import attrs

from smsgate.errors import SmsGateError
from smsgate.model import Message, StatusReport
from smsgate.outcomes import Outcome, OutcomeStatus
from smsgate.status import DeliveryStatus

__all__ = [
    "RECORDED_STATE",
    "Claim",
    "EntryState",
    "Journal",
    "JournalEntry",
    "JournalError",
    "JournalInUse",
    "JournalMismatch",
    "JournalRun",
    "delivery_status",
    "digest_of",
]


class JournalError(SmsGateError):
    """The journal cannot be used: it is not a journal, is damaged, is in use by another
    process, or cannot be written. A run that meets one stops: sending on without a record
    would break its promise."""


class JournalInUse(JournalError):
    """The journal (SQLite) or the run (PostgreSQL) is held by another session: another
    process, or another run in this one. Nothing was sent; try again once it has ended."""


class JournalMismatch(JournalError):
    """A resumed run's input differs from what the journal recorded at its position: the
    source changed. Nothing was sent.

    Attributes:
        position: the input's position in the source, from 0.
    """

    def __init__(self, message: str, *, position: int) -> None:
        self.position = position
        super().__init__(message)


class EntryState(IntEnum):
    """Where an input of a journalled run stands."""

    CLAIMED = 0
    """Read from the source; in no request yet (or its request was refused). Safe to send."""
    DISPATCHED = 1
    """Its request was about to leave; no outcome recorded. It may have been sent."""
    ACCEPTED = 2
    """The provider took it."""
    FAILED = 3
    """The provider took nothing (or it could not be sent at all)."""
    UNCERTAIN = 4
    """Its request left and no answer proved whether the provider took it."""
    SUPPRESSED = 5
    """Not sent: its recipient was on a suppression list. A resumed run looks it up again
    (and sends it if the recipient has opted back in)."""

    @property
    def done(self) -> bool:
        """Whether a resumed run leaves the input alone (accepted or failed)."""
        return self in (EntryState.ACCEPTED, EntryState.FAILED)


RECORDED_STATE = {
    OutcomeStatus.ACCEPTED: EntryState.ACCEPTED,
    OutcomeStatus.FAILED: EntryState.FAILED,
    OutcomeStatus.UNCERTAIN: EntryState.UNCERTAIN,
    OutcomeStatus.UNSENT: EntryState.CLAIMED,
    OutcomeStatus.SUPPRESSED: EntryState.SUPPRESSED,
}
"""The state a journal records for an outcome (an ``UNSENT`` input is ``CLAIMED`` again: its
request never left)."""


class Claim(NamedTuple):
    """One input as it is read."""

    position: int
    digest: int
    """A checksum of the input's content (`digest_of`)."""
    to: str | None
    reference: str | None
    key: str | None
    """The idempotency key its request will carry."""


@attrs.frozen
class JournalEntry:
    """One input of a journalled run, as the journal holds it.

    Attributes:
        position: its position in the source, from 0.
        state: where it stands.
        digest: the checksum of its content.
        session: the session of the run that last read it (the first is 1).
        to, reference: the recipient (E.164) and the caller's reference.
        key: the idempotency key its request carried (``None``: it carried none).
        message_id, batch_id: the provider's ids, once accepted.
        status: the status the provider answered with (``"queued"`` ...), once accepted.
        error: why it failed, or why it is uncertain.
        reason: the `smsgate.FailureReason` (or the error's class) of a failure.
        delivery: the last delivery status followed (``smsgate track``), if any.
    """

    position: int
    state: EntryState
    digest: int = attrs.field(repr=False)
    session: int = 1
    to: str | None = None
    reference: str | None = None
    key: str | None = None
    message_id: str | None = None
    batch_id: str | None = None
    status: str | None = None
    error: str | None = None
    reason: str | None = None
    delivery: str | None = None


@runtime_checkable
class JournalRun(Protocol):
    """The record of one run, as `smsgate.send_many` writes and reads it.

    ``claim`` and ``record`` may buffer; ``dispatch`` returns only once everything written
    before it, and its own entries, are durable.
    """

    @property
    def name(self) -> str:
        """The run's id."""
        ...

    @property
    def session(self) -> int:
        """This session's number: 1 for a new run, more for a resumed one."""
        ...

    @property
    def last_position(self) -> int:
        """The highest position the journal held when this session began (-1: none)."""
        ...

    def claim(self, claims: Sequence[Claim]) -> None:
        """Record inputs as read (``CLAIMED``), or read again."""
        ...

    async def dispatch(self, positions: Sequence[int], *, keyed: bool) -> None:
        """Record inputs as ``DISPATCHED``, durably, before their request leaves; ``keyed``:
        the request carries their idempotency keys (else they cannot be looked up).

        Raises:
            JournalError: it could not be recorded: the request must not leave.
        """
        ...

    def record(self, outcomes: Sequence[Outcome]) -> None:
        """Record outcomes, each at its ``index`` (``UNSENT`` ones are ``CLAIMED`` again)."""
        ...

    async def flush(self) -> None:
        """Make everything recorded so far durable."""
        ...

    def entries(self, *, upto: int | None = None) -> AsyncIterator[JournalEntry]:
        """Every input's entry by position (up to position ``upto``, if given)."""
        ...

    async def counts(self) -> Mapping[EntryState, int]:
        """How many inputs are in each state."""
        ...

    async def record_delivery(self, reports: Sequence[tuple[int, StatusReport]]) -> None:
        """Record the delivery status followed for accepted inputs, by position."""
        ...


@runtime_checkable
class Journal(Protocol):
    """A store of runs."""

    async def open(self, run: str, *, provider: str) -> JournalRun:
        """Begin a session of ``run``: a new run, or the next session of an existing one.

        Raises:
            JournalError: the journal cannot be used, or ``run`` was begun through another
                provider (its uncertain messages could only be looked up there).
        """
        ...

    async def runs(self) -> list[str]:
        """The ids of the runs it holds, oldest first."""
        ...

    async def aclose(self) -> None:
        """Write what is buffered, and close."""
        ...


def digest_of(item: Message | Mapping[str, Any]) -> int:
    """A checksum (CRC-32) of what an input says: for a `Message`, every field but its
    idempotency key (the number as normalised, so ``07700 900123`` and ``+447700900123``
    agree); for an input that could not become a message, its fields as given.

    It tells a changed input from the one a journal recorded, not a forged one from a true
    one: 32 bits make two different inputs at one position agree once in four billion, and
    it is the cheapest check that reads every field (one is made for every input).

    >>> digest_of(Message("+447700900123", "Hi")) == digest_of(Message("+44 7700 900123", "Hi"))
    True
    """
    if not isinstance(item, Message):
        text = repr(sorted((str(k), repr(v)) for k, v in item.items()))
        return zlib.crc32(text.encode("utf-8", "surrogatepass"))
    # One is made for every input of a journalled run: the common fields go in directly.
    head = zlib.crc32(item.to.encode() + b"\x1f")
    digest = zlib.crc32(item.text.encode("utf-8", "surrogatepass"), head)
    if (
        item.sender is not None
        or item.reference is not None
        or item.tag is not None
        or item.metadata
        or item.validity is not None
        or item.provider_options
    ):
        validity = None if item.validity is None else item.validity.total_seconds()
        options = sorted((k, sorted(v.items())) for k, v in item.provider_options.items())
        extras = (item.sender, item.reference, item.tag, sorted(item.metadata.items()), validity)
        text = "\x1f" + repr((*extras, options))
        digest = zlib.crc32(text.encode("utf-8", "surrogatepass"), digest)
    return digest


def delivery_status(word: str | None) -> DeliveryStatus:
    """A status a journal recorded (``JournalEntry.status`` or ``.delivery``) as a
    `DeliveryStatus`: ``QUEUED`` when none was, ``UNKNOWN`` for a word it does not know."""
    try:
        return DeliveryStatus(word) if word else DeliveryStatus.QUEUED
    except ValueError:
        return DeliveryStatus.UNKNOWN
