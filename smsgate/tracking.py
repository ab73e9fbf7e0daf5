"""Following messages to their final status by asking the provider.

For providers that post no delivery reports (SMS Scheduler), and for services that take no
webhooks. `wait_for_final` follows one message; `track` follows many, a bounded number of
requests at a time, and yields each change of status once.

Each message (or batch) is asked about at once, then after ``interval`` seconds, doubling up to
``max_interval`` while nothing changes and starting again at ``interval`` when something does.
Failures that may pass (timeouts, 5xx, 429 — after its ``Retry-After``) are asked again later;
a message the provider does not list yet is asked again when you gave its `Receipt` (providers
list new messages with a delay), and is an error at once for a bare id.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence

import attrs

from smsgate.checks import is_seconds, is_whole
from smsgate.errors import GatewayError, NotFound, RateLimited, SmsGateError, ValidationError
from smsgate.gateway import BatchTrackingGateway, SmsGateway
from smsgate.model import MessageRef, Receipt, StatusReport, message_id_of, with_receipt
from smsgate.retry import should_retry

__all__ = ["StatusTimeout", "Tracker", "track", "wait_for_final"]


class StatusTimeout(SmsGateError, TimeoutError):
    """No final status came within the time given.

    Attributes:
        report: the last status seen, or ``None`` if the provider never gave one.
    """

    def __init__(self, message: str, *, report: StatusReport | None) -> None:
        self.report = report
        super().__init__(message)


@attrs.define(eq=False)
class _Poll:
    """One thing to ask about: a message, or the messages of a batch without ids of their own."""

    refs: list[MessageRef]
    batch_id: str | None
    wait: float


def _check_positive(name: str, value: float) -> None:
    if not is_seconds(value):
        raise ValidationError(name, f"must be a positive number of seconds, not {value!r}")


class Tracker:
    """Follows many messages until each has a final status or time runs out.

    Iterate over it (once) for each change of status, as a `StatusReport`; a message whose
    status at the first look is the one on its `Receipt` yields nothing until it changes.
    Afterwards, `latest`, `errors` and `unfinished` say where everything ended.

    Build it with `track`.

    Attributes:
        latest: the last status seen of each message.
        errors: the messages that could not be followed, and the error that stopped each.
    """

    def __init__(
        self,
        gateway: SmsGateway,
        refs: Iterable[MessageRef],
        *,
        concurrency: int = 8,
        interval: float = 2.0,
        max_interval: float = 60.0,
        timeout: float = 3600.0,
    ) -> None:
        if not is_whole(concurrency, least=1):
            raise ValidationError(
                "concurrency", f"must be a whole number >= 1, not {concurrency!r}"
            )
        for name, value in (
            ("interval", interval),
            ("max_interval", max_interval),
            ("timeout", timeout),
        ):
            _check_positive(name, value)
        if max_interval < interval:
            raise ValidationError("max_interval", "must not be shorter than interval")
        self.gateway = gateway
        self.concurrency = concurrency
        self.interval = float(interval)
        self.max_interval = float(max_interval)
        self.timeout = float(timeout)
        self.latest: dict[MessageRef, StatusReport] = {}
        self.errors: dict[MessageRef, GatewayError] = {}
        self._refs = list(dict.fromkeys(refs))
        self._polls = self._plan(self._refs)
        self._started = False

    def _plan(self, refs: Sequence[MessageRef]) -> list[_Poll]:
        """One poll per message, except one per batch for batch receipts without ids."""
        batches: defaultdict[str, list[MessageRef]] = defaultdict(list)
        polls = []
        grouped = isinstance(self.gateway, BatchTrackingGateway)
        for ref in refs:
            if isinstance(ref, Receipt) and ref.message_id is None and ref.batch_id is not None:
                if grouped:
                    batches[ref.batch_id].append(ref)
                    continue
            else:
                message_id_of(ref)  # a bad ref is a ValidationError now, not later
            polls.append(_Poll([ref], None, self.interval))
        polls += [_Poll(members, batch, self.interval) for batch, members in batches.items()]
        return polls

    @property
    def unfinished(self) -> list[MessageRef]:
        """The messages without a final status (and without an error), in the order given."""
        return [ref for ref in self._refs if ref not in self.errors and not self._final(ref)]

    def _final(self, ref: MessageRef) -> bool:
        report = self.latest.get(ref)
        return report is not None and report.status.is_final

    def __aiter__(self) -> AsyncIterator[StatusReport]:
        if self._started:
            raise RuntimeError("a Tracker can be iterated once; make another with track()")
        self._started = True
        return self._run()

    async def _run(self) -> AsyncIterator[StatusReport]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        order = itertools.count()
        due = [(loop.time(), next(order), poll) for poll in self._polls]
        running: dict[asyncio.Task[list[tuple[MessageRef, StatusReport]]], _Poll] = {}
        try:
            while due or running:
                now = loop.time()
                if now >= deadline:
                    return
                while due and due[0][0] <= now and len(running) < self.concurrency:
                    poll = heapq.heappop(due)[2]
                    running[asyncio.create_task(self._ask(poll))] = poll
                wake = due[0][0] if due and len(running) < self.concurrency else deadline
                pause = max(0.0, min(wake, deadline) - now)
                if not running:
                    await asyncio.sleep(pause)
                    continue
                done, _ = await asyncio.wait(
                    running, timeout=pause, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    poll = running.pop(task)
                    changes = self._settle(poll, task)
                    for report in changes:
                        yield report
                    if poll.refs:
                        heapq.heappush(due, (loop.time() + poll.wait, next(order), poll))
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _ask(self, poll: _Poll) -> list[tuple[MessageRef, StatusReport]]:
        if poll.batch_id is None:
            [ref] = poll.refs
            return [(ref, await self.gateway.status(ref))]
        assert isinstance(self.gateway, BatchTrackingGateway)
        listed = await self.gateway.batch_status(poll.batch_id)
        # The k-th receipt to a number is the k-th message to it in the batch.
        by_number: defaultdict[str | None, list[StatusReport]] = defaultdict(list)
        for report in listed:
            by_number[report.to].append(report)
        answers: list[tuple[MessageRef, StatusReport]] = []
        for ref in poll.refs:
            assert isinstance(ref, Receipt)
            reports = by_number.get(ref.to)
            if reports:
                answers.append((ref, with_receipt(reports.pop(0), ref)))
        return answers

    def _settle(
        self, poll: _Poll, task: asyncio.Task[list[tuple[MessageRef, StatusReport]]]
    ) -> list[StatusReport]:
        """Record what a poll found; return the changes and leave in ``poll`` what goes on."""
        try:
            answers = task.result()
        except GatewayError as error:
            if self._passing(error, poll):
                wait = min(poll.wait * 2, self.max_interval)
                retry_after = error.retry_after if isinstance(error, RateLimited) else None
                poll.wait = max(wait, retry_after or 0.0)
                return []
            for ref in poll.refs:
                self.errors[ref] = error
            poll.refs = []
            return []
        changes = []
        for ref, report in answers:
            before = self.latest.get(ref)
            known = before.status if before else (ref.status if isinstance(ref, Receipt) else None)
            self.latest[ref] = report
            if report.status is not known:
                changes.append(report)
        poll.refs = [
            r for r in poll.refs if not (r in self.latest and self.latest[r].status.is_final)
        ]
        poll.wait = self.interval if changes else min(poll.wait * 2, self.max_interval)
        return changes

    @staticmethod
    def _passing(error: GatewayError, poll: _Poll) -> bool:
        """Whether ``error`` may pass, so that asking again later makes sense."""
        if isinstance(error, NotFound):
            return all(isinstance(ref, Receipt) for ref in poll.refs)
        return should_retry(error, idempotent=True)  # 429 included: it is retryable


def track(
    gateway: SmsGateway,
    refs: Iterable[MessageRef],
    *,
    concurrency: int = 8,
    interval: float = 2.0,
    max_interval: float = 60.0,
    timeout: float = 3600.0,
) -> Tracker:
    """Follow many messages; iterate over the result for each change of status, once.

    Args:
        gateway: the gateway the messages were sent through.
        refs: their receipts (best: they carry the status at sending, ``reference`` and
            ``metadata``, and let batch messages be asked about a batch at a time) or ids.
        concurrency: at most this many status requests at once.
        interval: seconds between the first looks at a message, and after each change.
        max_interval: the longest wait between looks while nothing changes.
        timeout: stop after this many seconds, final or not (see `Tracker.unfinished`).

    Raises:
        ValidationError: a ref is neither a receipt nor an id, or a setting is out of range.

    >>> import asyncio, smsgate
    >>> from smsgate import DeliveryStatus
    >>> async def main():
    ...     async with smsgate.connect("fake") as gateway:
    ...         gateway.script("+447700900123", DeliveryStatus.SENT, DeliveryStatus.DELIVERED)
    ...         receipt = await gateway.send(gateway.message("+447700900123", "Hi"))
    ...         tracker = smsgate.track(gateway, [receipt], interval=0.01)
    ...         return [report.status async for report in tracker]
    >>> asyncio.run(main())
    [<DeliveryStatus.SENT: 'sent'>, <DeliveryStatus.DELIVERED: 'delivered'>]
    """
    return Tracker(
        gateway,
        refs,
        concurrency=concurrency,
        interval=interval,
        max_interval=max_interval,
        timeout=timeout,
    )


async def wait_for_final(
    gateway: SmsGateway,
    ref: MessageRef,
    *,
    timeout: float = 600.0,  # noqa: ASYNC109 - the deadline belongs to the polling, not a call
    interval: float = 2.0,
    max_interval: float = 60.0,
) -> StatusReport:
    """Ask about one message until its status is final, and return that report.

    Args:
        gateway: the gateway it was sent through.
        ref: its `Receipt` or id.
        timeout: give up after this many seconds.
        interval: seconds between the first looks (doubling while nothing changes).
        max_interval: the longest wait between looks.

    Raises:
        StatusTimeout: no final status within ``timeout``; ``report`` is the last one seen.
        GatewayError: the provider refused to say (an unknown id, bad credentials ...).
    """
    tracker = track(
        gateway, [ref], concurrency=1, interval=interval, max_interval=max_interval, timeout=timeout
    )
    async for _ in tracker:
        pass
    if ref in tracker.errors:
        raise tracker.errors[ref]
    report = tracker.latest.get(ref)
    if report is None or not report.status.is_final:
        where = "no status" if report is None else f"still {report.status}"
        raise StatusTimeout(f"{where} after {timeout:g} seconds", report=report)
    return report
