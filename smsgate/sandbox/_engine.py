"""The sandbox's accounts and messages: what every emulated provider shares.

Every message follows one timeline from the moment it is due to go out (``send_at``): queued,
then sent after ``send_delay``, then final after ``deliver_delay`` (a platform refusal skips
"sent"). Its final outcome is drawn when it is created, from a seeded random generator, so
that a run with the same seed and the same order of requests ends the same way.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
import itertools
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import attrs
from aiohttp import web

logger = logging.getLogger("smsgate.sandbox")

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
"""The hosts the sandbox listens on and posts delivery reports to: nothing leaves the machine."""


class Stage(enum.Enum):
    """Where a message is on its timeline."""

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENT = "sent"
    FINAL = "final"
    CANCELLED = "cancelled"


@attrs.define(eq=False)
class Sms:
    """One message to one number, as a provider keeps it.

    ``outcome`` is the provider's final word or code for it, drawn when it is created;
    ``failure`` says why it fails, as the provider says it (``None`` when it is delivered).
    """

    id: str
    provider: str
    to: str  # E.164
    text: str
    sender: str
    parts: int
    credits: float
    created: datetime
    send_at: datetime
    outcome: Any  # the provider's final word or code
    batch_id: str | None = None
    tag: str | None = None
    metadata: list[dict[str, str]] | None = None
    report_url: str | None = None
    stage: Stage = Stage.QUEUED
    modified: datetime = attrs.field(factory=lambda: datetime.now(UTC))
    failure: Any = None  # why it fails, as the provider says it; None if it is delivered

    @property
    def failed(self) -> bool:
        """Whether its outcome is a failure."""
        return self.failure is not None


@attrs.define
class Timing:
    send_delay: float
    deliver_delay: float


class Account:
    """One provider account: its credits, messages and batches."""

    def __init__(self, credits: float, first_id: int) -> None:
        self.credits = credits
        self.messages: dict[str, Sms] = {}
        self.batches: dict[str, list[Sms]] = {}
        self._ids = itertools.count(first_id)

    def next_id(self) -> str:
        """A new id for a message or batch, counting up from ``first_id``."""
        return str(next(self._ids))


class Engine:
    """Moves messages along their timelines and tells listeners when one ends."""

    def __init__(
        self,
        *,
        seed: int | None,
        failure_rate: float,
        timing: Timing,
        refusals: Mapping[str, frozenset[Any]],
    ) -> None:
        self.random = random.Random(seed)
        self.failure_rate = failure_rate
        self.timing = timing
        # By provider, the outcomes its platform decides before sending: they never reach
        # "sent".
        self.refusals = refusals
        self._due: list[tuple[datetime, int, Sms]] = []
        self._order = itertools.count()
        self.on_final: list[Callable[[Sms], None]] = []

    def fails(self) -> bool:
        """Whether the next message fails (drawn from the seed)."""
        return self.random.random() < self.failure_rate

    def add(self, sms: Sms, now: datetime) -> None:
        """Start ``sms`` on its timeline (scheduled if it is due later)."""
        sms.modified = now
        if sms.stage is Stage.FINAL:  # refused as it was created
            self._finish(sms)
        elif sms.send_at > now:
            sms.stage = Stage.SCHEDULED
            self._push(sms.send_at, sms)
        else:
            sms.stage = Stage.QUEUED
            self._push(now + timedelta(seconds=self.timing.send_delay), sms)

    def _push(self, when: datetime, sms: Sms) -> None:
        heapq.heappush(self._due, (when, next(self._order), sms))

    def advance(self, now: datetime) -> None:
        """Apply every change due by ``now``; each entry is a message's next change."""
        while self._due and self._due[0][0] <= now:
            when, _, sms = heapq.heappop(self._due)
            if sms.stage is Stage.SCHEDULED:
                sms.stage, wait = Stage.QUEUED, self.timing.send_delay
            elif sms.stage is Stage.QUEUED and sms.outcome not in self.refusals[sms.provider]:
                sms.stage, wait = Stage.SENT, self.timing.deliver_delay
            elif sms.stage in (Stage.QUEUED, Stage.SENT):
                sms.stage, sms.modified = Stage.FINAL, when
                self._finish(sms)
                continue
            else:  # cancelled while it waited
                continue
            sms.modified = when
            self._push(when + timedelta(seconds=wait), sms)

    def _finish(self, sms: Sms) -> None:
        for listener in self.on_final:
            listener(sms)

    def cancel(self, sms: Sms, account: Account, now: datetime) -> bool:
        """Cancel a scheduled message and give its credits back; whether it was scheduled."""
        if sms.stage is not Stage.SCHEDULED:
            return False
        sms.stage, sms.modified = Stage.CANCELLED, now
        account.credits += sms.credits
        return True


COMMON_FAULTS = ("500", "502", "504", "drop", "429")
"""What every emulator's sending requests can be made to meet (`Sandbox.inject`)."""
STORING = frozenset({"500", "502", "504", "drop"})
"""The common faults that may come after the request's messages are stored."""
_HTML = "<html><head><title>{0}</title></head><body><h1>{0}</h1></body></html>"


@attrs.define
class Fault:
    """One injected misbehaviour, for the next ``remaining`` sending requests."""

    kind: str
    stored: bool
    path: str | None
    remaining: int

    def answer(self) -> web.StreamResponse | None:
        """The answer for the common faults; ``None`` for a provider's own."""
        if self.kind == "500":
            return web.json_response({"message": "Internal Server Error"}, status=500)
        if self.kind == "502":
            return _html(502, "502 Bad Gateway")
        if self.kind == "504":
            return _html(504, "504 Gateway Time-out")
        if self.kind == "429":
            return web.json_response(
                {"message": "Too Many Requests"}, status=429, headers={"Retry-After": "1"}
            )
        return None


def _html(status: int, title: str) -> web.Response:
    return web.Response(status=status, text=_HTML.format(title), content_type="text/html")


class Faults:
    """The faults injected into each provider's sending requests, oldest first."""

    def __init__(self) -> None:
        self._pending: dict[str, list[Fault]] = {}

    def add(self, provider: str, kind: str, *, stored: bool, path: str | None, times: int) -> None:
        self._pending.setdefault(provider, []).append(Fault(kind, stored, path, times))

    def take(self, provider: str, path: str) -> Fault | None:
        """The fault for this request, if one is due (and count it)."""
        for fault in self._pending.get(provider, ()):
            if fault.path is None or path.endswith(fault.path):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._pending[provider].remove(fault)
                return fault
        return None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
"""An aiohttp request handler."""

FaultAnswer = Callable[[str, list[Sms]], web.StreamResponse]
"""A provider's answer to one of its own faults: given the fault and the messages the request
stored before it (none unless the fault stores them), the response to send."""


def sending(
    handler: Handler,
    *,
    provider: str,
    account: Account,
    faults: Faults,
    latency: Callable[[], float],
    answer: FaultAnswer | None = None,
) -> Handler:
    """``handler`` for a request that sends messages: it meets the next injected fault, if
    one is due, and its answer waits for the sandbox's ``latency``.

    Under a fault, the messages are stored first (or not, as the fault says); then the
    answer is the fault's (``answer`` gives a provider's own ones), or the connection is
    dropped.
    """

    async def serve(request: web.Request) -> web.StreamResponse:
        fault = faults.take(provider, request.path)
        if fault is None:
            response = await handler(request)
        else:
            before = len(account.messages)
            if fault.stored:
                await handler(request)
            stored = list(account.messages.values())[before:]
            response = _misbehave(request, fault, stored, answer)
        wait = latency()
        if wait:
            await asyncio.sleep(wait)
        return response

    return serve


def _misbehave(
    request: web.Request, fault: Fault, stored: list[Sms], answer: FaultAnswer | None
) -> web.StreamResponse:
    if fault.kind == "drop":
        # Close the connection without answering, as a crashed server or a proxy would.
        assert request.transport is not None
        request.transport.abort()
        return web.Response(headers={"X-Sandbox-Fault": "drop"})  # never written
    response = fault.answer()
    if response is not None:
        # What stands in front of an API answers these, not the API: say so, for the tests
        # that hold the API's answers to its documents.
        response.headers["X-Sandbox-Fault"] = fault.kind
    if response is None and answer is not None:
        response = answer(fault.kind, stored)
    if response is None:
        raise ValueError(f"{request.path} cannot answer {fault.kind}")
    return response


class Reporter:
    """Posts delivery reports to webhooks, a few at a time, in the background."""

    def __init__(self, concurrency: int = 4) -> None:
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._concurrency = concurrency
        self.posted = 0
        self.failed = 0

    def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._workers = [asyncio.create_task(self._work()) for _ in range(self._concurrency)]

    def post(self, url: str, payload: dict[str, Any]) -> None:
        """Post ``payload`` to ``url`` soon, if ``url`` is on this machine."""
        if urlsplit(url).hostname not in LOOPBACK:  # nothing leaves the machine
            logger.warning("not posting a delivery report to %s: not a loopback address", url)
            return
        self._queue.put_nowait((url, payload))

    async def _work(self) -> None:
        assert self._session is not None
        while True:
            url, payload = await self._queue.get()
            try:
                # Never follow a redirect: it could send the report off loopback.
                async with self._session.post(url, json=payload, allow_redirects=False) as answer:
                    if answer.status >= 300:
                        raise aiohttp.ClientResponseError(
                            answer.request_info, (), status=answer.status
                        )
                self.posted += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.failed += 1
                logger.warning("delivery report to %s failed: %s", url, exc)
            finally:
                self._queue.task_done()

    async def drain(self) -> None:
        """Wait until every report queued so far has been posted (or has failed)."""
        await self._queue.join()

    async def stop(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
