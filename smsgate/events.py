"""Events: what happens to sends, as frozen records handed to hooks of your own.

A hook is any callable taking one event; `add_hook` installs it for the whole process (every
gateway, bulk run, router and webhook receiver), and the callable it returns takes it away:

>>> from smsgate import events
>>> seen = []
>>> remove = events.add_hook(seen.append)
>>> remove()

Events are records (named tuples: frozen, and quick to make), made only while a hook is
installed, so without one they cost a test of an empty tuple; with one, a record for each
request, retry, failover, circuit change, bulk run start and end, batch of outcomes and
webhook request (not one for each message of a batch: a 5,000-message request is one
`Attempt` and one `Outcomes`). Hooks are called in the task
that made the event, synchronously: a hook must be quick (hand slow work to a queue of your
own). A hook that raises is logged on ``smsgate.events`` and never stops a send.

`smsgate.otel` is built on these hooks.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from smsgate.model import Outcome, OutcomeStatus
from smsgate.ratelimit import parts_of

if TYPE_CHECKING:
    from smsgate.bulk import Summary

__all__ = [
    "Attempt",
    "CircuitChange",
    "Event",
    "Failover",
    "Hook",
    "Outcomes",
    "Retry",
    "RunEnded",
    "RunStarted",
    "WebhookReceived",
    "add_hook",
    "attempted",
    "current_run",
    "emit",
    "remove_hook",
]

logger = logging.getLogger("smsgate.events")


class Attempt(NamedTuple):
    """One try of a request to a provider, once it has ended.

    Attributes:
        provider: the gateway's name.
        method: the HTTP method.
        url: the URL, without any credential (a gateway refuses a base URL that has one).
        messages: the messages it carried (0 for lookups, cancels, tokens).
        status: the HTTP status of the answer; None when there was no answer.
        error: the error the try ended with (a `smsgate.errors.GatewayError`); None when
            it succeeded.
        started: when it began, in seconds since the epoch.
        duration: how long it took, in seconds.
        run: the bulk run it belongs to (`RunStarted.run`); None outside one.
    """

    provider: str
    method: str
    url: str
    messages: int
    status: int | None
    error: Exception | None
    started: float
    duration: float
    run: int | None = None


class Retry(NamedTuple):
    """A try failed with an error worth another; the next comes after ``wait`` seconds.

    Attributes:
        provider: the gateway's name (None for a retry policy used on its own).
        attempt: the try that failed, from 1.
        attempts: the tries allowed in all.
        wait: seconds until the next.
        error: why the try failed.
    """

    provider: str | None
    attempt: int
    attempts: int
    wait: float
    error: BaseException | None


class Failover(NamedTuple):
    """A router's provider did not take a message (nothing was sent), so the next is tried.

    Attributes:
        provider: the provider that did not take it.
        error: why.
    """

    provider: str
    error: Exception


class CircuitChange(NamedTuple):
    """A router's circuit for one provider opened (it is skipped for ``cooldown`` seconds)
    or closed again (it took a message).

    Attributes:
        provider: the provider.
        open: whether the circuit is now open.
        failures: the failures in a row that opened it (0 when it closed).
        cooldown: seconds it stays open.
    """

    provider: str
    open: bool
    failures: int
    cooldown: float


class RunStarted(NamedTuple):
    """A bulk run (`smsgate.send_many`, `send_all`) began sending.

    Attributes:
        run: its number in this process, carried by its `Attempt` and `Outcomes` events.
        provider: the gateway's name.
        concurrency: requests in flight at most.
        journal_run: the journalled run's name, if it has one.
        started: when, in seconds since the epoch.
    """

    run: int
    provider: str
    concurrency: int
    journal_run: str | None
    started: float


class RunEnded(NamedTuple):
    """A bulk run ended: every input has its outcome (``stopped``: it was stopped first).

    Attributes:
        run: its number (`RunStarted.run`).
        provider: the gateway's name.
        stopped: whether it was stopped before it had sent everything.
        summary: its counts (a copy, as they were at the end).
        duration: seconds since it started.
    """

    run: int
    provider: str
    stopped: bool
    summary: Summary
    duration: float


class AcceptedOutcomes(Sequence[Outcome]):
    """The outcomes of an accepted request, built only when read."""

    __slots__ = ("_indexes", "_messages", "_receipts")

    def __init__(self, indexes: Sequence[int], messages: Sequence[Any], receipts: Any) -> None:
        self._indexes, self._messages, self._receipts = indexes, messages, receipts

    def __len__(self) -> int:
        return len(self._indexes)

    def __getitem__(self, at: Any) -> Any:
        if isinstance(at, slice):
            return [self[i] for i in range(*at.indices(len(self)))]
        from smsgate.bulk._core import accepted

        return accepted(self._indexes[at], self._messages[at], self._receipts[at])


class Outcomes(NamedTuple):
    """Outcomes settled together: those of one request's answer in a bulk run, of one
    lookup, of a run's stop, or of one `smsgate.try_send`.

    Attributes:
        provider: the gateway's name.
        outcomes: the `smsgate.Outcome` records (built as they are read, for accepted
            requests: a hook that reads only `counts` costs nothing a message).
        run: the bulk run they belong to; None for `try_send`.
    """

    provider: str
    outcomes: Sequence[Outcome]
    run: int | None = None

    def counts(self) -> Counter[OutcomeStatus]:
        """How many outcomes of each status."""
        if type(self.outcomes) is AcceptedOutcomes:
            return Counter({OutcomeStatus.ACCEPTED: len(self.outcomes)})
        return Counter(outcome.status for outcome in self.outcomes)

    def parts(self) -> Counter[OutcomeStatus]:
        """The SMS parts of the messages, by status (inputs that are no message: none)."""
        found: Counter[OutcomeStatus] = Counter()
        if type(self.outcomes) is AcceptedOutcomes:
            found[OutcomeStatus.ACCEPTED] = parts_of(m.text for m in self.outcomes._messages)
            return found
        for outcome in self.outcomes:
            if outcome.message is not None:
                found[outcome.status] += parts_of((outcome.message.text,))
        return found


class WebhookReceived(NamedTuple):
    """A webhook request was accepted: delivery reports or inbound messages.

    Attributes:
        provider: the provider it came from.
        kind: ``"status"`` (delivery reports) or ``"inbound"`` (messages to you).
        items: how many it carried.
        repeated: how many of them had been received before (and were not handed on).
    """

    provider: str
    kind: str
    items: int
    repeated: int = 0


Event: TypeAlias = (
    Attempt | Retry | Failover | CircuitChange | RunStarted | RunEnded | Outcomes | WebhookReceived
)
Hook: TypeAlias = Callable[[Event], object]

hooks: tuple[Hook, ...] = ()
"""The hooks installed (read it as ``events.hooks``: it is replaced, not changed, when one
is added or removed)."""

current_run: ContextVar[int | None] = ContextVar("smsgate_run", default=None)
"""The bulk run whose tasks are running (set in each of its tasks)."""

_runs = itertools.count(1)


def add_hook(hook: Hook) -> Callable[[], None]:
    """Call ``hook`` with every event from now on, in this process; returns a callable that
    removes it (so does `remove_hook`).

    Raises:
        TypeError: ``hook`` is not callable.
    """
    global hooks
    if not callable(hook):
        raise TypeError(f"hook: must be callable, not {type(hook).__name__}")
    hooks = (*hooks, hook)
    return lambda: remove_hook(hook)


def remove_hook(hook: Hook) -> None:
    """Stop calling ``hook`` (nothing happens if it is not installed)."""
    global hooks
    kept = list(hooks)
    if hook in kept:
        kept.remove(hook)
    hooks = tuple(kept)


def emit(event: Event) -> None:
    """Hand ``event`` to every hook; one that raises is logged, and the others still run."""
    for hook in hooks:
        try:
            hook(event)
        except Exception:
            logger.exception("event hook %r failed on %s", hook, type(event).__name__)


def attempted(
    provider: str,
    method: str,
    url: str,
    messages: int,
    status: int | None,
    error: Exception | None,
    started: float,
) -> None:
    """Emit the `Attempt` of a request that began at ``started`` (`time.time`) and has just
    ended, in the current bulk run if there is one."""
    ended = time.time()
    emit(
        Attempt(
            provider,
            method,
            url,
            messages,
            status,
            error,
            started,
            ended - started,
            current_run.get(),
        )
    )


def next_run() -> int:
    """A new bulk run's number."""
    return next(_runs)
