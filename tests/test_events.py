"""Events handed to hooks: a record for each request, retry, failover, circuit change, bulk
run start and end, and batch of outcomes; against the sandbox on 127.0.0.1 where a provider
answers."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from typing import Any

import pytest

import smsgate
from smsgate import Message, OutcomeStatus, TransportError, events, send_all, send_many, try_send
from smsgate.routing import RoutingGateway
from smsgate.sandbox import Sandbox
from smsgate.testing import FakeGateway
from tests.providers.test_base import TOKEN, EchoGateway
from tests.test_routing import UK, Clock, refused


@pytest.fixture
def seen() -> Iterator[list[events.Event]]:
    found: list[events.Event] = []
    remove = events.add_hook(found.append)
    yield found
    remove()


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    box = Sandbox(seed=1, failure_rate=0)
    await box.start()
    yield box
    await box.stop()


def of(found: list[events.Event], kind: type) -> list[Any]:
    return [event for event in found if type(event) is kind]


async def test_each_request_is_an_attempt_with_its_answer_and_time(seen, sandbox):
    async with smsgate.from_config(sandbox.config("smsworks")) as gateway:
        receipt = await gateway.send(Message(UK, "Hi"))
    attempts = of(seen, events.Attempt)
    assert attempts == seen  # a single send: requests only
    sent = attempts[-1]
    assert (sent.provider, sent.method, sent.url) == (
        "smsworks",
        "POST",
        sandbox.base_url("smsworks") + "/message/send",
    )
    assert (sent.messages, sent.status, sent.error, sent.run) == (1, 201, None, None)
    assert 0 < sent.duration < 10
    assert sent.started > 1_700_000_000
    assert receipt.provider == "smsworks"


async def test_tries_and_retries_are_events_with_their_errors(seen, retrying, closed_port_url):
    async with EchoGateway(token=TOKEN, base_url=closed_port_url, retries=2) as gateway:
        with pytest.raises(TransportError):
            await gateway.request_json("GET", "/status")
    attempts, retries = of(seen, events.Attempt), of(seen, events.Retry)
    assert [(a.method, a.status, type(a.error)) for a in attempts] == [
        ("GET", None, TransportError)
    ] * 3
    assert [(r.provider, r.attempt, r.attempts) for r in retries] == [
        ("echo", 1, 3),
        ("echo", 2, 3),
    ]
    assert all(isinstance(r.error, TransportError) and r.wait >= 0 for r in retries)
    assert [type(e) for e in seen] == [
        events.Attempt,
        events.Retry,
        events.Attempt,
        events.Retry,
        events.Attempt,
    ]


async def test_failovers_and_circuit_changes_are_events(seen):
    primary, backup = FakeGateway(name="primary"), FakeGateway(name="backup")
    router = RoutingGateway(providers=[primary, backup], failures=2, cooldown=30)
    router._clock = clock = Clock()
    primary.fail(refused("primary"), times=2)
    for _ in range(2):
        await router.send(Message(UK, "Hi"))
    clock.now += 31
    await router.send(Message(UK, "Hi"))  # the trial: it takes it
    shown = [
        (type(e).__name__, e.provider, getattr(e, "open", None), getattr(e, "failures", None))
        for e in seen
    ]
    assert shown == [
        ("Failover", "primary", None, None),
        ("CircuitChange", "primary", True, 2),
        ("Failover", "primary", None, None),
        ("CircuitChange", "primary", False, 0),
    ]
    assert "refused" in str(of(seen, events.Failover)[0].error)


async def test_a_bulk_run_is_started_settled_and_ended_with_its_requests_inside(seen, sandbox):
    rows: list[Message | dict[str, str]] = [
        Message(UK, "Hi"),
        {"to": "12", "text": "Hi"},  # not a number: fails before any request
        Message("+447700900124", "x" * 200),  # two parts
    ]
    async with smsgate.from_config(sandbox.config("smsworks")) as gateway:
        summary = await send_all(gateway, rows)
    assert events.current_run.get() is None  # the caller's context is left as it was
    started, ended = of(seen, events.RunStarted), of(seen, events.RunEnded)
    assert len(started) == len(ended) == 1
    run = started[0].run
    assert (started[0].provider, started[0].concurrency, started[0].journal_run) == (
        "smsworks",
        8,
        None,
    )
    assert (ended[0].run, ended[0].stopped) == (run, False)
    assert (ended[0].summary.accepted, ended[0].summary.failed) == (2, 1)
    assert ended[0].summary is not summary  # a copy
    sending = [a for a in of(seen, events.Attempt) if a.messages]
    assert sending
    assert all(a.run == run for a in sending)
    assert sum(a.messages for a in sending) == 2
    settled = of(seen, events.Outcomes)
    assert all(o.run == run and o.provider == "smsworks" for o in settled)
    everything = sorted((o for batch in settled for o in batch.outcomes), key=lambda o: o.index)
    assert [(o.index, o.status) for o in everything] == [
        (0, OutcomeStatus.ACCEPTED),
        (1, OutcomeStatus.FAILED),
        (2, OutcomeStatus.ACCEPTED),
    ]
    assert everything[0].receipt is not None
    counts: Counter[OutcomeStatus] = sum((batch.counts() for batch in settled), start=Counter())
    parts: Counter[OutcomeStatus] = sum((batch.parts() for batch in settled), start=Counter())
    assert counts == {OutcomeStatus.ACCEPTED: 2, OutcomeStatus.FAILED: 1}
    assert parts == {OutcomeStatus.ACCEPTED: 3}  # 1 + 2; the row that is no message has none
    assert seen.index(started[0]) < seen.index(sending[0]) < seen.index(ended[0])


async def test_a_stopped_run_says_so_and_settles_what_it_held(seen):
    messages = [Message(UK, "Hi") for _ in range(50)]
    async with send_many(FakeGateway(name="fake"), messages, concurrency=1) as run:
        async for _ in run:
            break
    ended = of(seen, events.RunEnded)
    assert [e.stopped for e in ended] == [True]
    counts: Counter[OutcomeStatus] = sum(
        (b.counts() for b in of(seen, events.Outcomes)), start=Counter()
    )
    summary = ended[0].summary
    assert counts == Counter(
        {
            OutcomeStatus.ACCEPTED: summary.accepted,
            OutcomeStatus.FAILED: summary.failed,
            OutcomeStatus.UNCERTAIN: summary.uncertain,
            OutcomeStatus.UNSENT: summary.unsent,
        }
    )
    assert sum(counts.values()) == summary.total > 0  # every input read, settled once


async def test_try_send_settles_one_outcome(seen):
    outcome = await try_send(FakeGateway(name="fake"), Message(UK, "Hi"))
    assert of(seen, events.Outcomes) == [events.Outcomes("fake", (outcome,))]


async def test_a_hook_that_raises_is_logged_and_sending_goes_on(seen, caplog, sandbox):
    def broken(event: events.Event) -> None:
        raise RuntimeError("a bug in the hook")

    remove = events.add_hook(broken)
    try:
        with caplog.at_level(logging.ERROR, logger="smsgate.events"):
            async with smsgate.from_config(sandbox.config("smsworks")) as gateway:
                await gateway.send(Message(UK, "Hi"))
    finally:
        remove()
    assert of(seen, events.Attempt)  # the hook after it still ran
    assert "failed on Attempt" in caplog.text
    assert "a bug in the hook" in caplog.text


def test_hooks_are_added_and_removed():
    before = events.hooks

    def hook(event: events.Event) -> None:
        pass

    remove = events.add_hook(hook)
    assert events.hooks == (*before, hook)
    remove()
    remove()  # again: nothing to do
    events.remove_hook(hook)
    assert events.hooks == before
    with pytest.raises(TypeError, match="hook: must be callable, not int"):
        events.add_hook(42)  # type: ignore[arg-type]


async def test_without_hooks_no_event_is_made(monkeypatch, sandbox):
    made: list[object] = []
    monkeypatch.setattr(events, "emit", made.append)
    assert events.hooks == ()
    async with smsgate.from_config(sandbox.config("smsworks")) as gateway:
        await send_all(gateway, [Message(UK, "Hi")])
        await gateway.send(Message(UK, "Hi"))
    assert made == []


async def test_each_task_of_a_run_keeps_its_own_context_variables():
    # The run's number reaches its tasks through a context; each task must still have one of
    # its own (the dispatch listener of a request lives in it).
    mine: ContextVar[str] = ContextVar("mine")
    crossed: list[str] = []

    class Careful(FakeGateway):
        async def send(self, message: Message) -> smsgate.Receipt:
            mine.set(message.to)
            await asyncio.sleep(0.001)
            if mine.get() != message.to:
                crossed.append(message.to)
            assert events.current_run.get() is not None
            return await super().send(message)

    messages = [Message(f"+4477009{i:05d}", "Hi") for i in range(40)]
    summary = await send_all(Careful(name="careful"), messages, concurrency=8)
    assert summary.accepted == 40
    assert crossed == []


async def test_a_run_told_to_stop_ends_as_stopped(seen):
    messages = [Message(f"+4477009{i:05d}", "Hi") for i in range(50)]
    async with send_many(FakeGateway(name="fake"), messages, concurrency=1) as run:
        async for _ in run:
            run.stop()  # the requests in flight finish; nothing more is read
    [ended] = of(seen, events.RunEnded)
    assert ended.stopped
    assert ended.summary.total < 50
