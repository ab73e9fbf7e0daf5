"""How a receiver runs its callbacks, whatever serves it: each in a task of its own, started
after the answer, with a deadline; a payload whose callback did not take it forgotten and
told to ``on_failure``; the payloads taken lately remembered, to recognise repeats."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from smsgate.model import InboundMessage, StatusReport

FailureCallback = Callable[[StatusReport | InboundMessage, BaseException], Awaitable[None]]
"""Told of a payload whose callback failed, ran out of time or was cancelled at shutdown."""

logger = logging.getLogger("smsgate.webhooks")


class _Recent:
    """The keys of the last ``size`` items taken, and no more than ``max_bytes`` of them,
    oldest forgotten first (a hostile client could otherwise send long ids)."""

    def __init__(self, size: int, max_bytes: int) -> None:
        self._size = size
        self._max_bytes = max_bytes
        self._bytes = 0
        self._marks = itertools.count()
        self._keys: OrderedDict[tuple[str, ...], tuple[int, int]] = OrderedDict()

    def __contains__(self, key: tuple[str, ...]) -> bool:
        return key in self._keys

    def add(self, key: tuple[str, ...]) -> int:
        """Remember ``key``; the mark that `discard` takes to forget this very entry."""
        size = len("".join(key).encode("utf-8", "replace")) + 64  # and its keeping
        mark = next(self._marks)
        keys = self._keys
        if key in keys:
            self.discard(key)
        keys[key] = (size, mark)
        self._bytes += size
        while len(keys) > self._size or self._bytes > self._max_bytes:
            self._bytes -= keys.popitem(last=False)[1][0]
        return mark

    def discard(self, key: tuple[str, ...], mark: int | None = None) -> None:
        """Forget ``key`` (only if it is still the entry ``mark`` made, when given)."""
        entry = self._keys.get(key)
        if entry is not None and (mark is None or entry[1] == mark):
            del self._keys[key]
            self._bytes -= entry[0]


class Callbacks:
    """The part of a receiver that runs callbacks.

    Each runs in one task of its own, started after the answer. At its deadline it is given
    up: cancelled and left to end on its own, so that one that goes on awaiting after it is
    cancelled cannot hold its slot. Whichever comes first, its end or its deadline, settles
    the call: frees its slot, and, if it did not take the payload, forgets the payload and
    tells ``on_failure``. One timer, set for the earliest deadline, serves all calls, rather
    than a timer each, made and cancelled for every payload.
    """

    def __init__(
        self,
        *,
        on_failure: FailureCallback | None,
        remember: int,
        remember_bytes: int,
        callback_timeout: float,
        answer_after_callback: bool,
    ) -> None:
        self._on_failure = on_failure
        self.callback_timeout = callback_timeout
        self.answer_after_callback = answer_after_callback
        self._recent = _Recent(remember, remember_bytes)
        self._pending: set[_Call] = set()
        self._sweeping: asyncio.TimerHandle | None = None
        self._running: dict[tuple[str, ...], _Call] = {}
        self._children: set[asyncio.Task[None]] = set()

    def _start(
        self, callback: Callable[[Any], Awaitable[None]], item: Any, key: tuple[str, ...]
    ) -> _Call:
        call = _Call(callback, item, key, self._recent.add(key))
        loop = asyncio.get_running_loop()
        call.task = loop.create_task(self._run(call))
        call.deadline = loop.time() + self.callback_timeout
        self._pending.add(call)
        if self._sweeping is None or call.deadline < self._sweeping.when():
            self._wake_at(loop, call.deadline)
        self._children.add(call.task)
        if self.answer_after_callback:
            self._running[key] = call
        return call

    async def _run(self, call: _Call) -> None:
        """The call's task: the callback, then the call settled, unless its deadline or
        `aclose` gave it up first (the task's end is then no news)."""
        try:
            await call.callback(call.item)
        except asyncio.CancelledError as exc:
            if call.open:
                logger.error("%s: callback cancelled for message %s", self, call.item.message_id)
                self._ended(call, exc)
        except Exception as exc:
            if call.open:
                logger.error(
                    "%s: callback failed for message %s",
                    self,
                    call.item.message_id,
                    exc_info=exc,
                )
                self._ended(call, exc)
        else:
            if call.open:
                self._ended(call, None)
        finally:
            self._children.discard(call.task)

    def _sweep(self) -> None:
        """Give up the calls past their deadline; wake again at the next one's."""
        self._sweeping = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        late = [call for call in self._pending if call.deadline <= now]
        for call in late:
            self._give_up(call, None)
        if coming := [call.deadline for call in self._pending if call.deadline > now]:
            self._wake_at(loop, min(coming))

    def _wake_at(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._sweeping is not None:
            self._sweeping.cancel()
        self._sweeping = loop.call_at(when, self._sweep)

    def _give_up(self, call: _Call, error: asyncio.CancelledError | None) -> None:
        """Stop a callback that ran past its deadline, or (with ``error``) that is still
        running when the receiver closes."""
        if not call.open:
            return
        call.task.cancel()
        if error is None:
            logger.error(
                "%s: callback for message %s ran past %g s and was stopped",
                self,
                call.item.message_id,
                self.callback_timeout,
            )
            self._ended(call, TimeoutError(f"the callback ran past {self.callback_timeout:g} s"))
        else:
            logger.error("%s: callback cancelled for message %s", self, call.item.message_id)
            self._ended(call, error)

    def _ended(self, call: _Call, error: BaseException | None) -> None:
        """The callback took the payload (``error`` is ``None``) or did not: settle the call;
        one that did not is forgotten (a repeat from the provider gets another chance) and
        settles once ``on_failure`` has been told."""
        call.open = False
        if error is None:
            self._settle(call, True)
            return
        self._recent.discard(call.key, call.mark)
        if self._on_failure is None:
            self._settle(call, False)
        else:
            self._spawn(self._tell_failure(call, error))

    def _settle(self, call: _Call, taken: bool) -> None:
        self._pending.discard(call)
        if self._running.get(call.key) is call:
            del self._running[call.key]
        call.settle(taken)

    def _spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        """A task the receiver keeps until it ends (and cancels when it closes), whose
        failure is never "never retrieved"."""
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._children.add(task)

        def ended(done: asyncio.Task[None]) -> None:
            self._children.discard(done)
            if not done.cancelled():
                done.exception()

        task.add_done_callback(ended)
        return task

    async def _tell_failure(self, call: _Call, error: BaseException) -> None:
        """Tell ``on_failure``, within the deadline; then settle the call."""
        assert self._on_failure is not None
        try:
            told = self._spawn(self._on_failure(call.item, error))
            done, _ = await asyncio.wait({told}, timeout=self.callback_timeout)
            if not done:
                told.cancel()
                logger.error("%s: on_failure ran past %g s", self, self.callback_timeout)
            elif not told.cancelled() and told.exception() is not None:
                logger.error(
                    "%s: on_failure failed for message %s",
                    self,
                    call.item.message_id,
                    exc_info=told.exception(),
                )
        finally:
            self._settle(call, False)

    async def aclose(self, grace: float = 30) -> None:
        """Wait up to ``grace`` seconds for running callbacks, then cancel the rest (and
        anything a stopped callback left running)."""
        if self._pending:
            calls = list(self._pending)
            _, late = await asyncio.wait({call.outcome() for call in calls}, timeout=grace)
            for call in calls:
                if call.outcome() in late:
                    self._give_up(call, asyncio.CancelledError())
            if late:
                await asyncio.wait(late)
        if self._sweeping is not None and not self._pending:
            self._sweeping.cancel()
            self._sweeping = None
        for child in list(self._children):
            child.cancel()
        if self._children:
            await asyncio.wait(set(self._children), timeout=grace)


class _Call:
    """One payload's callback: its task, its deadline, and whether it took the payload."""

    __slots__ = ("_outcome", "callback", "deadline", "item", "key", "mark", "open", "task")

    task: asyncio.Task[None]
    deadline: float  # in the loop's time

    def __init__(
        self,
        callback: Callable[[Any], Awaitable[None]],
        item: Any,
        key: tuple[str, ...],
        mark: int,
    ) -> None:
        self.callback = callback
        self.item = item
        self.key = key
        self.mark = mark
        self.open = True  # the callback runs, and has not been given up on
        self._outcome: asyncio.Future[bool] | None = None

    def outcome(self) -> asyncio.Future[bool]:
        """Whether the payload was taken, once the call settles: asked of a call that has
        not, and made only when asked."""
        if self._outcome is None:
            self._outcome = asyncio.get_running_loop().create_future()
        return self._outcome

    def settle(self, taken: bool) -> None:
        if self._outcome is not None:
            self._outcome.set_result(taken)
