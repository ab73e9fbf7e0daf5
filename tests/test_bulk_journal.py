"""Journalled bulk runs: stopped and resumed, every input ends with one outcome that matches
what the provider (the sandbox, on 127.0.0.1) stored, and nobody is texted twice."""

import asyncio
import time
from collections import Counter

import pytest

import smsgate
import smsgate.journal.sqlite
from smsgate import (
    BulkSend,
    InvalidRequest,
    Message,
    Outcome,
    OutcomeStatus,
    ValidationError,
    send_all,
    send_many,
)
from smsgate.gateway import announce_dispatch, on_dispatch
from smsgate.journal import Claim, EntryState, JournalError, JournalMismatch, digest_of
from smsgate.journal.sqlite import SqliteJournal
from smsgate.sandbox import Sandbox
from smsgate.testing import FakeGateway
from tests.support.outcomes import message_of

A, F, U, N = (
    OutcomeStatus.ACCEPTED,
    OutcomeStatus.FAILED,
    OutcomeStatus.UNCERTAIN,
    OutcomeStatus.UNSENT,
)


def source(provider: str, count: int = 2000, first: int = 0):
    for i in range(first, first + count):
        # Distinct texts share /batch/any; SMS Scheduler groups one text by number, and three
        # groups fill at their own pace, so a stop finds rows read but in no request yet.
        text = f"Code {i}" if provider == "smsworks" else f"Sale {i % 3}"
        yield Message(f"+4477009{i:05d}", text, reference=f"r{i}")


async def stop_after(run: BulkSend, taken: int) -> list[Outcome]:
    seen: list[Outcome] = []
    async with run:
        async for outcome in run:
            seen.append(outcome)
            if len(seen) == taken:
                break
    return seen


def stored(sandbox: Sandbox, provider: str) -> Counter[str]:
    return Counter(sms.to for sms in sandbox.messages(provider))


@pytest.mark.parametrize("provider", ["smsworks", "smsscheduler"])
async def test_a_stopped_run_resumes_with_nobody_texted_twice_and_nobody_skipped(
    tmp_path, provider
):
    path = tmp_path / "run.journal"
    async with Sandbox(seed=1, failure_rate=0, latency=0.1) as sandbox:
        async with smsgate.from_config(sandbox.config(provider)) as gateway:
            async with SqliteJournal(path) as journal:
                run = send_many(gateway, source(provider), journal=journal, run="r", chunk_size=100)
                await stop_after(run, 300)  # requests in flight, and rows read ahead
                first = run.summary
            assert first.uncertain > 0  # requests were in flight at the stop

            async with SqliteJournal(path) as journal:
                run = send_many(
                    gateway,
                    source(provider),
                    journal=journal,
                    run="r",
                    chunk_size=100,
                    resolve_patience=1,
                )
                outcomes = [o async for o in run]
                second = run.summary
                counts = await (await journal.open("r", provider=gateway.name)).counts()
        await asyncio.sleep(0.2)
        record = stored(sandbox, provider)

    assert run.session == 2
    assert sorted(o.index for o in outcomes) == list(range(2000))
    assert second.earlier == first.accepted
    assert max(record.values()) == 1  # nobody twice
    if provider == "smsworks":  # the in-flight ones were found at the provider
        assert second.resolved == first.uncertain
        assert (second.accepted, second.uncertain) == (2000, 0)
        assert set(record) == {m.to for m in source(provider)}  # nobody skipped
        assert counts[EntryState.ACCEPTED] == 2000
    else:  # no search: reported uncertain, never sent again
        assert (second.accepted, second.uncertain) == (2000 - first.uncertain, first.uncertain)
        uncertain = {message_of(o).to for o in outcomes if o.status is U}
        assert set(record) - uncertain == {m.to for m in source(provider)} - uncertain
        assert counts[EntryState.UNCERTAIN] == first.uncertain


async def test_inputs_read_but_never_sent_are_sent_on_resume_and_only_they(tmp_path):
    class Grouping(FakeGateway):
        """Ten messages of one text a request: a rare text waits long for its group."""

        batch_limit = 10

        def batch_key(self, message, at):
            return message.text

        async def send_chunk(self, chunk, at):
            await announce_dispatch(keyed=True)  # one request for the chunk

            async def quiet(left, keyed):
                pass

            with on_dispatch(quiet):
                return [await self.send(m) for m in chunk]

    gateway = Grouping()
    rows = [Message(f"+4477009{i:05d}", "rare" if i % 10 == 0 else "common") for i in range(200)]
    async with SqliteJournal(tmp_path / "j") as journal:
        run = send_many(gateway, rows, journal=journal, run="r", concurrency=2)
        await stop_after(run, 5)
        first = run.summary
        held = {message_of(o).to for o in first.unsent_inputs}
        assert {m.text for m in (message_of(o) for o in first.unsent_inputs)} >= {"rare"}
        log = await journal.open("r", provider="fake")
        claimed = [e.to async for e in log.entries() if e.state is EntryState.CLAIMED]
        assert set(claimed) == held  # the journal says the same

        second = await send_all(gateway, rows, journal=journal, run="r")

    assert second.accepted == 200
    assert second.earlier == first.accepted
    assert Counter(m.to for m in gateway.outbox) == Counter(m.to for m in rows)


async def test_a_finished_run_resumed_sends_nothing_and_reads_back_every_input(tmp_path):
    gateway = FakeGateway()
    rows = [*source("fake", 50), {"to": "not a number", "text": "x", "reference": "bad"}]
    async with SqliteJournal(tmp_path / "j") as journal:
        first = await send_all(gateway, rows, journal=journal, run="done")
        again = await send_all(gateway, rows, journal=journal, run="done")
        run = await journal.open("done", provider="fake")
        entries = [entry async for entry in run.entries()]

    assert (first.accepted, first.failed) == (50, 1)
    assert (again.accepted, again.failed, again.earlier) == (50, 1, 51)
    assert len(gateway.outbox) == 50
    assert [e.state for e in entries] == [EntryState.ACCEPTED] * 50 + [EntryState.FAILED]
    assert entries[0].message_id == "fake-1"
    assert entries[-1].reference == "bad"
    assert "to" in (entries[-1].error or "")


async def test_a_changed_source_is_refused_before_anything_is_sent(tmp_path):
    gateway = FakeGateway()
    async with SqliteJournal(tmp_path / "j") as journal:
        run = send_many(gateway, list(source("fake", 100)), journal=journal, run="r", chunk_size=1)
        await stop_after(run, 10)
        sent = len(gateway.outbox)
        changed = list(source("fake", 100))
        changed[3] = Message(changed[3].to, "Another text", reference="r3")

        with pytest.raises(JournalMismatch, match="input 3 is not what the journal recorded"):
            await send_all(gateway, changed, journal=journal, run="r")
        with pytest.raises(JournalMismatch, match="the source ends after 5 inputs"):
            await send_all(gateway, list(source("fake", 5)), journal=journal, run="r")
        assert len(gateway.outbox) == sent  # nothing more went out

        longer = await send_all(gateway, list(source("fake", 120)), journal=journal, run="r")
    assert longer.accepted == 120
    assert Counter(m.to for m in gateway.outbox) == Counter(m.to for m in source("fake", 120))


async def test_a_journal_that_cannot_be_written_stops_the_run_and_nothing_leaves_unrecorded(
    tmp_path,
):
    gateway = FakeGateway()
    journal = SqliteJournal(tmp_path / "j")
    run = send_many(gateway, source("fake", 100), journal=journal, run="r", chunk_size=1)
    seen = []

    async def take():
        async for outcome in run:
            seen.append(outcome)
            if len(seen) == 5:
                journal.connection().close()  # the disk is gone

    with pytest.raises(JournalError, match="cannot use it"):
        await take()
    summary = run.summary
    assert summary.total == summary.accepted + summary.unsent + summary.uncertain
    assert len(gateway.outbox) == summary.accepted + summary.uncertain
    assert summary.accepted < 100


async def test_a_gateway_that_does_not_announce_its_requests_is_journalled_before_each_send(
    tmp_path,
):
    class Quiet(FakeGateway):
        announces_dispatch = False

    async with SqliteJournal(tmp_path / "j") as journal:
        await send_all(Quiet(), source("fake", 3), journal=journal, run="r")
        run = await journal.open("r", provider="fake")
        states = [entry.state async for entry in run.entries()]
    assert states == [EntryState.ACCEPTED] * 3


def test_a_journal_needs_a_run_and_a_run_needs_a_journal(tmp_path):
    with pytest.raises(ValidationError, match="needs both journal= and run="):
        send_many(FakeGateway(), [], run="r")
    with pytest.raises(ValidationError, match="needs both journal= and run="):
        send_many(FakeGateway(), [], journal=SqliteJournal(tmp_path / "j"))
    with pytest.raises(ValidationError, match="must be a non-empty string"):
        send_many(FakeGateway(), [], journal=SqliteJournal(tmp_path / "j"), run=" ")


async def test_stop_lets_requests_in_flight_finish_and_leaves_the_rest_unsent():
    class Slow(FakeGateway):
        async def send(self, message):
            await asyncio.sleep(0.1)
            return await super().send(message)

    gateway = Slow()
    run = send_many(gateway, source("fake", 100), concurrency=4)
    seen = []
    async for outcome in run:
        seen.append(outcome)
        if len(seen) == 1:
            run.stop()
    summary = run.summary
    assert summary.uncertain == 0  # nothing was cut off
    assert summary.accepted == len(gateway.outbox) == len(seen) - summary.unsent
    assert summary.total == summary.accepted + summary.unsent < 100  # no more was read


async def test_an_input_that_fails_before_a_stop_leaves_a_run_that_resumes(tmp_path):
    gateway = FakeGateway()
    rows = [{"to": "not a number", "text": "x"}, *source("fake", 30)]
    async with SqliteJournal(tmp_path / "j") as journal:
        run = send_many(gateway, rows, journal=journal, run="r", concurrency=1)
        await stop_after(run, 1)  # the failed input's outcome, before any claim was flushed

        resumed = await send_all(gateway, rows, journal=journal, run="r")

    assert (resumed.failed, resumed.accepted) == (1, 30)
    assert Counter(m.to for m in gateway.outbox) == Counter(m.to for m in source("fake", 30))


async def test_a_slow_machine_still_folds_the_whole_log_before_a_run_resumes(tmp_path, monkeypatch):
    path = tmp_path / "j"
    message = Message("+447700900001", "Hi")
    async with SqliteJournal(path) as journal:
        log = await journal.open("r", provider="fake")
        log.claim([Claim(0, digest_of(message), message.to, None, message.key)])
        await log.dispatch([0], keyed=True)  # and the process dies before the answer

    class LateClock:
        """Every look at the clock finds the slice already over."""

        now = time.monotonic()

        def monotonic(self) -> float:
            self.now += 0.005
            return self.now

    monkeypatch.setattr(smsgate.journal.sqlite, "time", LateClock())
    gateway = FakeGateway()
    async with SqliteJournal(path) as journal:
        run = send_many(gateway, [message], journal=journal, run="r", resolve_patience=0)
        outcomes = [o async for o in run]
    assert [o.status for o in outcomes] == [U]  # its request had left: never sent again
    assert gateway.outbox == []


async def test_a_request_refused_is_claimed_again_in_the_journal(tmp_path):
    gateway = FakeGateway()
    gateway.fail(InvalidRequest(provider="fake", http_status=400), times=None)
    async with SqliteJournal(tmp_path / "j") as journal:
        summary = await send_all(gateway, source("fake", 3), journal=journal, run="r")
        run = await journal.open("r", provider="fake")
        states = [entry.state async for entry in run.entries()]
    assert summary.failed == 3
    assert states == [EntryState.FAILED] * 3
