"""Stopping a bulk run every way, with requests in flight and outcomes not yet taken: every
input taken from the source gets exactly one outcome, and each matches what the provider
(the sandbox, on 127.0.0.1) stored."""

import asyncio
import gc
from collections import Counter

import pytest

import smsgate
from smsgate import Message, Outcome, OutcomeStatus, ProviderUnavailable, send_many
from smsgate.sandbox import Sandbox
from smsgate.testing import FakeGateway
from tests.support.outcomes import message_of

A, F, U, N = (
    OutcomeStatus.ACCEPTED,
    OutcomeStatus.FAILED,
    OutcomeStatus.UNCERTAIN,
    OutcomeStatus.UNSENT,
)
SLOW = 0.005  # the caller takes an outcome every 5 ms: the run reads ahead meanwhile


class Source:
    """1,000 messages, counting how many the run takes."""

    def __init__(self, provider: str) -> None:
        self.taken = 0
        self.provider = provider

    def __iter__(self):
        for i in range(1000):
            self.taken += 1
            # Distinct texts go in /batch/any; SMS Scheduler groups one text by number.
            text = f"Code {i}" if self.provider == "smsworks" else "Sale"
            yield Message(f"+4477009{i:05d}", text, reference=f"r{i}")


# Each way stops the run once ``ready()`` says the moment has come: a request is in flight
# (the sandbox holds messages it has not answered for) and outcomes are waiting to be taken.


async def break_inside_async_with(run, seen, ready):
    async with run:
        async for outcome in run:
            seen.append(outcome)
            if ready():
                break
            await asyncio.sleep(SLOW)


async def break_without_async_with(run, seen, ready):
    async for outcome in run:
        seen.append(outcome)
        if ready():
            break
        await asyncio.sleep(SLOW)


async def cancel_the_task(run, seen, ready):
    moment = asyncio.Event()

    async def consume():
        async for outcome in run:
            seen.append(outcome)
            if ready():
                moment.set()
            await asyncio.sleep(SLOW)

    task = asyncio.create_task(consume())
    await moment.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def a_timeout(run, seen, ready):
    async def consume():
        async with asyncio.timeout(None) as deadline:
            async for outcome in run:
                seen.append(outcome)
                if ready():
                    deadline.reschedule(asyncio.get_running_loop().time())
                await asyncio.sleep(SLOW)

    with pytest.raises(TimeoutError):
        await consume()


async def a_loop_body_that_raises(run, seen, ready):
    async def consume():
        async with run:
            async for outcome in run:
                seen.append(outcome)
                if ready():
                    _ = 1 / 0
                await asyncio.sleep(SLOW)

    with pytest.raises(ZeroDivisionError):
        await consume()


async def aclose_from_elsewhere(run, seen, ready):
    moment = asyncio.Event()

    async def consume():
        async for outcome in run:
            seen.append(outcome)
            if ready():
                moment.set()
            await asyncio.sleep(SLOW)

    consumer = asyncio.create_task(consume())
    await moment.wait()
    await run.aclose()
    await consumer  # the loop ends quietly: the run is over


class Stop(Exception):
    pass


async def a_progress_callback_that_raises(run, seen, ready):
    async def consume():
        async for outcome in run:
            seen.append(outcome)
            await asyncio.sleep(SLOW)

    with pytest.raises(Stop):
        await consume()


WAYS = [
    break_inside_async_with,
    break_without_async_with,
    cancel_the_task,
    a_timeout,
    a_loop_body_that_raises,
    aclose_from_elsewhere,
    a_progress_callback_that_raises,
]


def stored(sandbox, provider) -> Counter[str]:
    """Each recipient, as often as the provider holds a message to it."""
    return Counter(sms.to for sms in sandbox.messages(provider))


@pytest.mark.parametrize("provider", ["smsworks", "smsscheduler"])
@pytest.mark.parametrize("stop", WAYS, ids=[way.__name__ for way in WAYS])
async def test_every_input_taken_gets_one_outcome_that_matches_the_providers_record(provider, stop):
    async with Sandbox(seed=1, failure_rate=0, latency=0.3) as sandbox:
        async with smsgate.from_config(sandbox.config(provider)) as gateway:
            source = Source(provider)
            seen: list[Outcome] = []

            def ready():
                in_flight = len(sandbox.messages(provider)) > run.summary.accepted
                return in_flight and run.summary.accepted > len(seen) and len(seen) >= 20

            def on_progress(_):
                if stop is a_progress_callback_that_raises and ready():
                    raise Stop

            run = send_many(gateway, source, concurrency=3, chunk_size=20, on_progress=on_progress)
            await stop(run, seen, ready)
            summary = run.summary
            # Whatever the stop left in flight ends now; then the provider's record is final.
            await run.aclose()
            await asyncio.sleep(0.4)
        record = stored(sandbox, provider)

    outcomes = seen + summary.unseen
    assert sorted(o.index for o in outcomes) == list(range(source.taken))
    by_status = Counter(o.status for o in outcomes)
    counts = (summary.accepted, summary.failed, summary.uncertain, summary.unsent)
    assert counts == (by_status[A], by_status[F], by_status[U], by_status[N])
    assert summary.total == source.taken
    # The stop fell with requests in flight, and (but where the run itself stopped on an error,
    # and handed everything over) with outcomes produced but not yet taken.
    assert summary.uncertain > 0
    if stop is not a_progress_callback_that_raises:
        assert any(o.status is A for o in summary.unseen)
    assert summary.unsent > 0
    assert sorted(o.index for o in summary.unsent_inputs) == sorted(
        o.index for o in outcomes if o.status is N
    )
    # Each outcome matches what the provider stored; nobody is texted twice.
    assert max(record.values()) == 1
    for outcome in outcomes:
        held = record[message_of(outcome).to]
        if outcome.status is A:
            assert held == 1, outcome
        elif outcome.status in (F, N):
            assert held == 0, outcome
    told = {message_of(o).to for o in outcomes if o.status in (A, U)}
    assert set(record) <= told  # the provider holds nothing we called failed or unsent


async def test_a_stop_while_a_refused_batch_is_split_leaves_the_unsent_half_unsent():
    async with Sandbox(seed=1, failure_rate=0, latency=1.0) as sandbox:
        async with smsgate.from_config(sandbox.config("smsworks")) as gateway:
            # The first message's tag is too long: the batch is refused (4005) and split.
            batch = [
                Message(f"+4477009000{i:02d}", f"Code {i}", tag="x" * 21 if i == 0 else None)
                for i in range(4)
            ]
            run = send_many(gateway, batch, chunk_size=4)
            seen = []

            async def take_outcomes():
                async with asyncio.timeout(0.4), run:
                    async for outcome in run:
                        seen.append(outcome)

            with pytest.raises(TimeoutError):
                await take_outcomes()
            outcomes = {o.index: o for o in seen + run.summary.unseen}
        stored_counts = stored(sandbox, "smsworks")

    # The half with the bad message was refused again (0), then its good message went out
    # alone (1, in flight at the stop); the other half never left.
    assert [outcomes[i].status for i in range(4)] == [F, U, N, N]
    assert stored_counts == Counter({batch[1].to: 1})
    assert outcomes[1].key == batch[1].key


async def test_uncertain_sends_awaiting_their_lookup_hold_room_so_memory_stays_bounded():
    class TakesThenFails(FakeGateway):
        async def send(self, message):
            await super().send(message)  # the provider takes it, and the answer is a 502
            raise ProviderUnavailable(provider=self.name, http_status=502)

    gateway = TakesThenFails()
    run = send_many(
        gateway,
        (Message(f"+4477009{i:05d}", "Hi") for i in range(2_000)),
        concurrency=4,
        resolve_uncertain=True,
        resolve_patience=0,
    )
    most = 0
    async with run:
        async for _ in run:
            most = max(most, len(run._unresolved))
    assert run.summary.resolved == run.summary.accepted == 2_000  # each found at the provider
    assert most <= run.concurrency * run.chunk_size


async def test_errors_kept_in_outcomes_hold_no_frames():
    gateway = FakeGateway()
    gateway.fail(ProviderUnavailable(provider="fake", http_status=502))
    async with send_many(gateway, [Message("+447700900001", "Hi")]) as run:
        [outcome] = [o async for o in run]
    assert outcome.status is U
    assert outcome.error is not None
    assert outcome.error.__traceback__ is None


async def test_a_stream_collected_while_outcomes_are_counted_accounts_for_each_input_once(
    monkeypatch,
):
    """A stream only reachable through a reference cycle is freed by the garbage collector,
    which may run in the middle of counting a chunk's outcomes."""

    class Batching(FakeGateway):
        batch_limit = 4
        go = asyncio.Event()

        def batch_key(self, message, at):
            return "one"

        async def send_chunk(self, chunk, at):
            await self.go.wait()
            return [await self.send(m) for m in chunk]

    gateway = Batching()
    run = send_many(gateway, [Message(f"+44770090000{i}", "Hi") for i in range(5)], chunk_size=4)
    stream = aiter(run)
    cycle: list[object] = [stream]
    cycle.append(cycle)
    waiting = asyncio.ensure_future(anext(stream))
    del stream
    await asyncio.sleep(0.05)  # the chunk of four is in flight
    waiting.cancel()
    del cycle  # garbage now, that only the cycle collector frees
    add = smsgate.bulk.Summary.add
    collected: list[int] = []

    def add_then_collect(summary, outcome):
        add(summary, outcome)
        if not collected:
            collected.append(gc.collect())

    class AcceptedThenCollect(smsgate.bulk._core.Accepted):
        def __init__(self, indexes, messages, receipts):  # between counting and handing over
            super().__init__(indexes, messages, receipts)
            if not collected:
                collected.append(gc.collect())

    monkeypatch.setattr(smsgate.bulk.Summary, "add", add_then_collect)
    monkeypatch.setattr(smsgate.bulk._core, "Accepted", AcceptedThenCollect)
    gc.disable()
    try:
        Batching.go.set()
        await asyncio.sleep(0.05)
    finally:
        gc.enable()
    summary = run.summary
    assert collected
    assert summary.total == 5
    assert sorted(o.index for o in summary.unseen) == [0, 1, 2, 3, 4]
