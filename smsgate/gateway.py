"""The provider contract: `SmsGateway`, the one protocol every provider implements;
`BaseGateway`, its common part; and one `runtime_checkable` protocol per optional capability.

==========================  ===========================================================
capability                  what a gateway offers, and who asks for it
==========================  ===========================================================
`BatchingGateway`           many messages a request (`send_many`)
`BatchTrackingGateway`      ``batch_status`` / ``cancel_batch`` for a whole batch (`Tracker`)
`BalanceGateway`            ``balance()``, the credits left (``smsgate balance``)
`FindingGateway`            ``find(key)`` by idempotency key, when ``can_find`` (`resolve`)
`AnnouncingGateway`         ``announces_dispatch``: it calls `announce_dispatch` (see below)
==========================  ===========================================================

Callers test a capability with ``isinstance(gateway, BalanceGateway)``; a provider offers one
by having its methods. What a provider posts to webhooks is read by a parser registered with
its name (`smsgate.registry.register_provider`), not found on the gateway.

It also holds the *dispatch announcement*: a gateway calls `announce_dispatch` right before a
request that carries messages leaves the process, and `announce_refused` when an answer
proves that the provider took none of them (a 4xx, a refused connection: before a retry, or
before it gives up). Whoever sends through it (`send_many`, `smsgate.try_send`) listens with
`on_dispatch`. That is how a stopped send tells a message whose request left (uncertain: it
may have been sent) from one whose request never did or was refused (unsent: safe to send
again).
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Awaitable, Callable, Hashable, Iterator, Sequence
from contextvars import ContextVar
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self, TypeAlias, Unpack, runtime_checkable

from smsgate.errors import ConfigurationError, TransportError, UnsupportedFeature, ValidationError
from smsgate.model import (
    BatchReceipt,
    Message,
    MessageFields,
    MessageRef,
    Outcome,
    Receipt,
    StatusReport,
    check_region,
)

__all__ = [
    "AnnouncingGateway",
    "BalanceGateway",
    "BaseGateway",
    "BatchRef",
    "BatchTrackingGateway",
    "BatchingGateway",
    "DispatchHook",
    "FindingGateway",
    "SmsGateway",
    "announce_dispatch",
    "announce_refused",
    "announces_dispatch",
    "can_find",
    "dispatch_listener",
    "on_dispatch",
]

BatchRef: TypeAlias = BatchReceipt | Receipt | str
"""A batch: its `BatchReceipt`, the `Receipt` of any message in it, or its id."""

DispatchHook = Callable[[bool, bool], Awaitable[None]]
"""Called with ``left`` (the request is leaving: ``True``; the provider refused it, so none of
its messages were taken: ``False``) and ``keyed`` (whether it carries each message's
idempotency key)."""

_dispatch_hook: ContextVar[DispatchHook | None] = ContextVar("smsgate_dispatch", default=None)


dispatch_listener: Callable[[], DispatchHook | None] = _dispatch_hook.get
"""Who hears of requests that carry messages in this context, if anyone: for a gateway that
announces them itself (``await listener(True, keyed)`` as `announce_dispatch` does, ``await
listener(False, False)`` as `announce_refused`) without a coroutine a request when no one
listens."""


async def announce_dispatch(*, keyed: bool) -> None:
    """Say that a request carrying messages is about to leave the process.

    Gateways call it right before such a request goes out, after any wait for a rate limit
    or a token, and again before each retry. ``keyed`` says whether the request carries each
    message's idempotency key, so that the messages can be looked up if no answer comes.
    The listener may refuse (raise): then the request must not leave. Gateways that call it
    set ``announces_dispatch = True``.
    """
    hook = _dispatch_hook.get()
    if hook is not None:
        await hook(True, keyed)


async def announce_refused() -> None:
    """Say that the answer to the last announced request proves that the provider took none
    of its messages (`smsgate.errors.may_have_sent` is false for its error)."""
    hook = _dispatch_hook.get()
    if hook is not None:
        await hook(False, False)


@contextlib.contextmanager
def on_dispatch(hook: DispatchHook) -> Iterator[None]:
    """Have ``hook`` hear of every request that carries messages and leaves in this context
    (the current task, and the calls it awaits)."""
    token = _dispatch_hook.set(hook)
    try:
        yield
    finally:
        _dispatch_hook.reset(token)


@runtime_checkable
class SmsGateway(Protocol):
    """Send, schedule, track and cancel SMS through one provider.

    Get one from `smsgate.connect` or `smsgate.from_config`, use it with ``async with`` (or
    call `aclose`), and the same code runs against any provider::

        async with smsgate.from_config(settings) as gateway:
            receipt = await gateway.send(gateway.message("07700 900123", "Hello"))
            report = await gateway.status(receipt)
    """

    @property
    def name(self) -> str:
        """The provider's registered name (``"smsworks"``), as receipts carry it."""
        ...

    def message(self, to: str, text: str, **fields: Unpack[MessageFields]) -> Message:
        """Build a `Message`, reading national numbers in the gateway's ``default_region``
        unless ``region`` is given."""
        ...

    async def send(self, message: Message) -> Receipt:
        """Send ``message`` now.

        Raises:
            ValidationError: the provider cannot take this message (before any request).
            ProviderError: the provider refused it.
            TransportError: no usable answer; ``maybe_sent`` says if it may have gone.
        """
        ...

    async def schedule(self, message: Message, at: datetime) -> Receipt:
        """Have the provider send ``message`` at ``at``, an aware datetime in the future."""
        ...

    async def status(self, ref: MessageRef) -> StatusReport:
        """Ask where a message stands. ``ref`` is its `Receipt` or its message id."""
        ...

    async def cancel(self, ref: MessageRef) -> StatusReport:
        """Cancel a scheduled message; the report says ``CANCELLED`` when it worked."""
        ...

    async def aclose(self) -> None:
        """Release the gateway's connections. Calling it again does nothing."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


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

    async def send_chunk(
        self, messages: Sequence[Message], at: datetime | None
    ) -> Sequence[Receipt]:
        """Send (or schedule for ``at``) messages of one key in one request; a receipt each,
        in their order (a list, or a sequence that makes each when it is asked for).
        ``messages`` is the bulk run's own list, which it reads again afterwards: read it or
        copy it, never change it."""
        ...


@runtime_checkable
class BatchTrackingGateway(Protocol):
    """A gateway whose provider keeps many messages under one batch id, and lists or cancels
    them in one request (The SMS Works' batches, SMS Scheduler's multi-number messages)."""

    async def batch_status(self, batch: BatchRef) -> list[StatusReport]:
        """A report for every message of the batch."""
        ...

    async def cancel_batch(self, batch: BatchRef) -> BatchReceipt:
        """Cancel every scheduled message of the batch; the receipt says ``CANCELLED``."""
        ...


@runtime_checkable
class BalanceGateway(Protocol):
    """A gateway that can tell the credits left on its account."""

    async def balance(self) -> float:
        """The credits left on the account."""
        ...


@runtime_checkable
class FindingGateway(Protocol):
    """A gateway that may look messages up by their idempotency key (`Message.key`).

    ``can_find`` says whether it can now (a router can when one of its providers can);
    `can_find` asks both.
    """

    @property
    def can_find(self) -> bool:
        """Whether `find` can look messages up."""
        ...

    async def find(self, ref: str | Outcome) -> StatusReport | None:
        """The provider's record of the message with this key, or ``None``."""
        ...


@runtime_checkable
class AnnouncingGateway(Protocol):
    """A gateway that calls `announce_dispatch` before each request that carries messages
    (and `announce_refused` when one is refused), when ``announces_dispatch`` is true."""

    @property
    def announces_dispatch(self) -> bool:
        """Whether it announces every request that carries messages."""
        ...


def can_find(gateway: object) -> bool:
    """Whether ``gateway`` can look messages up by their idempotency key."""
    return isinstance(gateway, FindingGateway) and gateway.can_find


def announces_dispatch(gateway: object) -> bool:
    """Whether ``gateway`` announces every request that carries messages; without it, a
    message handed to the gateway counts as possibly sent."""
    return isinstance(gateway, AnnouncingGateway) and gateway.announces_dispatch


class BaseGateway(abc.ABC):
    """What every gateway shares: its name, a default region, ``message``, closing.

    Subclass it (or `smsgate.providers.base.HttpGateway` for HTTP APIs) and implement
    ``send``, ``schedule``, ``status`` and ``cancel`` to add a provider; a subclass missing
    one cannot be instantiated. Optional capabilities are the protocols above.

    Args:
        default_region: the country national numbers are read in (``"GB"``), for `message`.

    Raises:
        ConfigurationError: ``default_region`` is not a region code.
    """

    name: str = "base"
    announces_dispatch: bool = False
    """Whether the gateway calls `announce_dispatch` before each request that carries
    messages; without it, a message handed to the gateway counts as possibly sent."""

    def __init__(self, *, default_region: str | None = None) -> None:
        try:
            self.default_region = None if default_region is None else check_region(default_region)
        except ValidationError as exc:
            raise ConfigurationError(f"default_region: {exc.rule}") from None
        self._closed = False

    def message(self, to: str, text: str, **fields: Unpack[MessageFields]) -> Message:
        """Build a `Message`; a national ``to`` is read in ``region`` or the gateway's
        ``default_region``. The other fields are `Message`'s."""
        fields["region"] = fields.get("region") or self.default_region
        return Message(to, text, **fields)

    @abc.abstractmethod
    async def send(self, message: Message) -> Receipt:
        """Send ``message`` now (see `SmsGateway.send`)."""

    @abc.abstractmethod
    async def schedule(self, message: Message, at: datetime) -> Receipt:
        """Have the provider send ``message`` at ``at`` (see `SmsGateway.schedule`)."""

    @abc.abstractmethod
    async def status(self, ref: MessageRef) -> StatusReport:
        """Ask where a message stands (see `SmsGateway.status`)."""

    @abc.abstractmethod
    async def cancel(self, ref: MessageRef) -> StatusReport:
        """Cancel a scheduled message (see `SmsGateway.cancel`)."""

    @property
    def can_find(self) -> bool:
        """Whether `find` can look messages up by their idempotency key."""
        return False

    async def find(self, ref: str | Outcome) -> StatusReport | None:
        """Look a message up at the provider by its idempotency key (`Message.key`).

        Args:
            ref: the key, or the `Outcome` of a send (whose message is checked against what
                the provider holds).

        Returns:
            The provider's record, or ``None`` when it holds no message with that key.

        Raises:
            UnsupportedFeature: the provider cannot search its messages (the default).
            KeyConflict: more than one message, or another message, carries the key.
        """
        raise UnsupportedFeature(
            self.name,
            "looking messages up by their idempotency key",
            "check an uncertain message with status() if you have its id, or in the "
            "provider's own records",
        )

    @property
    def closed(self) -> bool:
        """Whether `aclose` has been called."""
        return self._closed

    def _check_message(self, message: Message) -> None:
        if not isinstance(message, Message):
            raise ValidationError("message", f"must be a Message, not {type(message).__name__}")

    def _ensure_open(self) -> None:
        if self._closed:
            raise TransportError(
                "this gateway is closed; create a new one", provider=self.name, maybe_sent=False
            )

    async def aclose(self) -> None:
        """Close the gateway. Later calls raise `TransportError` (nothing is sent)."""
        self._closed = True

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}{' closed' if self._closed else ''}>"
