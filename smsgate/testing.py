"""`FakeGateway`: an in-memory `SmsGateway` for your own tests.

It keeps an outbox instead of sending, plays back the statuses you script for each
recipient, raises the errors you inject, and looks messages up by their idempotency key
(`FakeGateway.find`), as a provider that stores keys does. It is registered as provider
``fake``, so code that is configured with ``{"provider": "fake"}`` runs without a network::

    gateway = FakeGateway(default_region="GB")
    gateway.script("07700 900123", DeliveryStatus.SENT, DeliveryStatus.DELIVERED)
    receipt = await gateway.send(gateway.message("07700 900123", "Hi"))
    assert gateway.outbox[0].text == "Hi"
    assert (await gateway.status(receipt)).status is DeliveryStatus.SENT
    assert (await gateway.status(receipt)).status is DeliveryStatus.DELIVERED
"""

from __future__ import annotations

import itertools
from collections import deque
from datetime import datetime
from typing import Literal

import attrs

from smsgate.encoding import segments
from smsgate.errors import (
    InvalidRequest,
    NotFound,
    SmsGateError,
    ValidationError,
    may_have_sent,
)
from smsgate.gateway import BaseGateway, announce_dispatch, announce_refused
from smsgate.model import (
    Message,
    MessageRef,
    Receipt,
    StatusReport,
    check_send_time,
    message_id_of,
    normalize_number,
)
from smsgate.outcomes import Outcome, lookup_key, the_match
from smsgate.registry import register_provider
from smsgate.status import DeliveryStatus, FailureReason

__all__ = ["FakeGateway", "Operation", "Step"]

Operation = Literal["send", "schedule", "status", "cancel", "find"]
Step = DeliveryStatus | tuple[DeliveryStatus, FailureReason]
"""One scripted status: a `DeliveryStatus`, or a status with the `FailureReason` for it."""


@attrs.define
class _Record:
    message_id: str
    receipt: Receipt
    status: DeliveryStatus
    reason: FailureReason | None
    upcoming: deque[Step]


@attrs.define
class _Failure:
    error: SmsGateError
    to: str | None
    operation: Operation | None
    remaining: int | None
    after_accepting: bool

    def matches(self, operation: Operation, to: str) -> bool:
        return (self.operation in (None, operation)) and (self.to in (None, to))

    def raised(self) -> SmsGateError:
        """The error, without the traceback of its last raise (which would keep growing)."""
        return self.error.with_traceback(None)


class FakeGateway(BaseGateway):
    """An `SmsGateway` that sends nothing and remembers everything.

    Args:
        name: the provider name it reports (give two fakes different names to test routing).
        default_region: the country national numbers are read in, as for real gateways.

    Attributes:
        outbox: every message it accepted (sent or scheduled), in order.
    """

    announces_dispatch = True

    def __init__(self, *, name: str = "fake", default_region: str | None = None) -> None:
        super().__init__(default_region=default_region)
        self.name = name
        self.outbox: list[Message] = []
        self._records: dict[str, _Record] = {}
        self._by_key: dict[str, list[_Record]] = {}
        self._scripts: dict[str, tuple[Step, ...]] = {}
        self._failures: list[_Failure] = []
        self._ids = itertools.count(1)

    # -- scripting -------------------------------------------------------------------------

    def script(self, to: str, *steps: Step) -> None:
        """Script the statuses that `status` reports, one per call, for messages to ``to``.

        Applies to every message sent to ``to`` from now on. After the last step the status
        stays where it is. Without a script, a message stays ``QUEUED`` (or ``SCHEDULED``).
        """
        for step in steps:
            status = step[0] if isinstance(step, tuple) else step
            if not isinstance(status, DeliveryStatus):
                raise ValidationError("steps", f"{step!r} is not a DeliveryStatus")
        self._scripts[self._number(to)] = steps

    def fail(
        self,
        error: SmsGateError,
        *,
        to: str | None = None,
        operation: Operation | None = None,
        times: int | None = 1,
        after_accepting: bool = False,
    ) -> None:
        """Make the next matching calls raise ``error``.

        Args:
            error: what to raise, e.g. ``RateLimited(provider="fake", http_status=429)``.
            to: only for messages to this number (any number if ``None``).
            operation: only for this operation (any if ``None``): ``"send"``,
                ``"schedule"``, ``"status"``, ``"cancel"`` or ``"find"``.
            times: how many calls fail; ``None`` for every one from now on.
            after_accepting: for ``send`` and ``schedule``, accept the message into the outbox
                and then raise, as when a provider takes a message and the answer is lost.
        """
        if times is not None and times < 1:
            raise ValidationError("times", "must be at least 1, or None for always")
        number = None if to is None else self._number(to)
        self._failures.append(_Failure(error, number, operation, times, after_accepting))

    def _number(self, to: str) -> str:
        return normalize_number(to, self.default_region)

    def _injected(self, operation: Operation, to: str) -> _Failure | None:
        for failure in self._failures:
            if failure.matches(operation, to):
                if failure.remaining is not None:
                    failure.remaining -= 1
                    if failure.remaining == 0:
                        self._failures.remove(failure)
                return failure
        return None

    # -- the protocol ----------------------------------------------------------------------

    async def send(self, message: Message) -> Receipt:
        """Put ``message`` in the outbox and return a ``QUEUED`` receipt."""
        return await self._accept("send", message, DeliveryStatus.QUEUED, None)

    async def schedule(self, message: Message, at: datetime) -> Receipt:
        """Put ``message`` in the outbox and return a ``SCHEDULED`` receipt."""
        at = check_send_time(at)
        return await self._accept("schedule", message, DeliveryStatus.SCHEDULED, at)

    async def _accept(
        self,
        operation: Operation,
        message: Message,
        status: DeliveryStatus,
        at: datetime | None,
    ) -> Receipt:
        self._ensure_open()
        self._check_message(message)
        await announce_dispatch(keyed=True)
        failure = self._injected(operation, message.to)
        if failure is not None and not failure.after_accepting:
            if not may_have_sent(failure.error):
                await announce_refused()
            raise failure.raised()
        message_id = f"{self.name}-{next(self._ids)}"
        receipt = Receipt(
            provider=self.name,
            message_id=message_id,
            to=message.to,
            status=status,
            reference=message.reference,
            metadata=message.metadata,
            parts=segments(message.text).parts,
            scheduled_at=at,
            key=message.key,
        )
        self.outbox.append(message)
        upcoming = deque(self._scripts.get(message.to, ()))
        record = _Record(message_id, receipt, status, None, upcoming)
        self._records[message_id] = record
        self._by_key.setdefault(message.key, []).append(record)
        if failure is not None:
            raise failure.raised()
        return receipt

    def _record(self, operation: Operation, ref: MessageRef) -> _Record:
        self._ensure_open()
        message_id = message_id_of(ref)
        record = self._records.get(message_id)
        if record is None:
            raise NotFound(
                f"no message with id {message_id!r}", provider=self.name, http_status=404
            )
        failure = self._injected(operation, record.receipt.to)
        if failure is not None:
            raise failure.raised()
        return record

    async def status(self, ref: MessageRef) -> StatusReport:
        """Report the next scripted status of the message, or its current one."""
        record = self._record("status", ref)
        if record.upcoming:
            step = record.upcoming.popleft()
            record.status, record.reason = step if isinstance(step, tuple) else (step, None)
        return self._report(record)

    async def cancel(self, ref: MessageRef) -> StatusReport:
        """Cancel a scheduled message.

        Raises:
            NotFound: no message has that id.
            InvalidRequest: the message is not (or no longer) scheduled.
        """
        record = self._record("cancel", ref)
        if record.status is not DeliveryStatus.SCHEDULED:
            raise InvalidRequest(
                f"message {record.message_id!r} is {record.status}, not scheduled; "
                "only scheduled messages can be cancelled",
                provider=self.name,
                http_status=400,
            )
        record.status, record.reason = DeliveryStatus.CANCELLED, None
        record.upcoming.clear()
        return self._report(record)

    @property
    def can_find(self) -> bool:
        """Always: the fake keeps every message's idempotency key."""
        return True

    async def find(self, ref: str | Outcome) -> StatusReport | None:
        """The message sent with this idempotency key (or this outcome's), or ``None``.

        Raises:
            KeyConflict: more than one message was sent with the key (the same `Message`
                sent twice), or the outcome's message went to another recipient.
        """
        self._ensure_open()
        key, message = lookup_key(ref)
        failure = self._injected("find", message.to if message is not None else "")
        if failure is not None:
            raise failure.raised()
        reports = [self._report(record) for record in self._by_key.get(key, ())]
        return the_match(self.name, key, reports, message)

    def _report(self, record: _Record) -> StatusReport:
        receipt = record.receipt
        return StatusReport(
            provider=self.name,
            message_id=record.message_id,
            status=record.status,
            to=receipt.to,
            reason=record.reason,
            provider_status=str(record.status),
            reference=receipt.reference,
            metadata=receipt.metadata,
        )


register_provider("fake", FakeGateway)
