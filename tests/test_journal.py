"""The journal's own rules: each state, what is durable when, and a file it cannot use."""

import asyncio
import contextlib
import sqlite3
import sys
import time
from collections.abc import Callable

import pytest

from smsgate import DeliveryStatus, Message, Receipt, StatusReport, TransportError
from smsgate.journal import (
    Claim,
    EntryState,
    Journal,
    JournalError,
    JournalInUse,
    JournalRun,
    digest_of,
)
from smsgate.journal.postgres import PostgresJournal
from smsgate.journal.sqlite import SqliteJournal
from smsgate.outcomes import Outcome, OutcomeStatus
from tests.support.postgres import CONNINFO


def message(i: int, text: str = "Hi") -> Message:
    return Message(f"+4477009{i:05d}", text, reference=f"r{i}")


def claims(*indexes: int) -> list[Claim]:
    return [Claim(i, digest_of(message(i)), message(i).to, f"r{i}", f"key-{i}") for i in indexes]


def accepted(i: int) -> Outcome:
    receipt = Receipt(
        provider="fake", message_id=f"m{i}", to=message(i).to, status=DeliveryStatus.QUEUED
    )
    return Outcome(i, OutcomeStatus.ACCEPTED, f"r{i}", message(i), receipt, key=f"key-{i}")


def stopped(i: int, status: OutcomeStatus) -> Outcome:
    error = TransportError("stopped", provider="fake", maybe_sent=True)
    return Outcome(i, status, f"r{i}", message(i), error=error)


async def states(run: JournalRun) -> dict[int, EntryState]:
    return {entry.position: entry.state async for entry in run.entries()}


def die(journal: SqliteJournal) -> None:
    """As if the process died: the file is let go, and nothing buffered is written."""
    journal.store().close()
    journal._store = None


@pytest.fixture
def path(tmp_path):
    return tmp_path / "run.journal"


@pytest.fixture(params=["sqlite", "postgres"])
def new_journal(request, path) -> Callable[[], SqliteJournal | PostgresJournal]:
    """Makes a journal of each store: the rules every store keeps are tested on each (the
    PostgreSQL one in a schema of the test's own; see `tests.support.postgres`)."""
    if request.param == "sqlite":
        return lambda: SqliteJournal(path)
    schema = request.getfixturevalue("postgres_schema")
    return lambda: PostgresJournal(CONNINFO, schema=schema)


def test_the_sqlite_journal_keeps_the_protocols():
    journal = SqliteJournal("unused.journal")
    assert isinstance(journal, Journal)


async def test_each_input_goes_from_claimed_to_dispatched_to_its_outcome(new_journal):
    async with new_journal() as journal:
        run = await journal.open("december", provider="fake")
        assert isinstance(run, JournalRun)
        assert (run.session, run.last_position) == (1, -1)

        run.claim(claims(0, 1, 2, 3, 4))
        assert set((await states(run)).values()) == {EntryState.CLAIMED}
        await run.dispatch([0, 1, 2], keyed=True)
        await run.dispatch([3], keyed=False)
        assert await states(run) == {
            0: EntryState.DISPATCHED,
            1: EntryState.DISPATCHED,
            2: EntryState.DISPATCHED,
            3: EntryState.DISPATCHED,
            4: EntryState.CLAIMED,
        }
        error = TransportError("refused", provider="fake", maybe_sent=False)
        run.record(
            [
                accepted(0),
                Outcome(1, OutcomeStatus.FAILED, "r1", message(1), error=error),
                stopped(2, OutcomeStatus.UNCERTAIN),
                stopped(3, OutcomeStatus.UNSENT),  # its request never left: claimed again
            ]
        )
        entries = {entry.position: entry async for entry in run.entries()}

    assert [entries[i].state for i in range(5)] == [
        EntryState.ACCEPTED,
        EntryState.FAILED,
        EntryState.UNCERTAIN,
        EntryState.CLAIMED,
        EntryState.CLAIMED,
    ]
    assert (entries[0].message_id, entries[0].status, entries[0].key) == ("m0", "queued", "key-0")
    assert (entries[0].batch_id, entries[0].error) == (None, None)
    assert entries[1].error == str(error)
    assert entries[1].reason == "TransportError"
    assert entries[2].key == "key-2"  # its request carried the key: it can be looked up
    assert entries[2].reason == "TransportError"
    assert entries[3].key is None  # an unkeyed request: nothing to look it up by
    assert (entries[4].to, entries[4].reference) == (message(4).to, "r4")
    assert entries[4].digest == digest_of(message(4))
    assert {entry.session for entry in entries.values()} == {1}


async def test_a_dispatch_is_durable_when_it_returns_and_claims_and_outcomes_soon_after(path):
    journal = SqliteJournal(path, interval=0.05)
    run = await journal.open("r", provider="fake")
    run.claim(claims(0, 1, 2))
    await run.dispatch([0], keyed=True)
    run.record([accepted(0)])
    run.claim(claims(3))
    die(journal)

    async with SqliteJournal(path) as again:
        resumed = await again.open("r", provider="fake")
        assert await states(resumed) == {
            0: EntryState.DISPATCHED,  # its answer was not yet committed
            1: EntryState.CLAIMED,
            2: EntryState.CLAIMED,
        }
        assert (resumed.session, resumed.last_position) == (2, 2)

        resumed.claim(claims(5))
        resumed.record([accepted(1)])
        await asyncio.sleep(0.3)  # within its interval, without a dispatch
        die(again)

    async with SqliteJournal(path) as third:
        last = await third.open("r", provider="fake")
        found = await states(last)
    assert (found[1], found[5]) == (EntryState.ACCEPTED, EntryState.CLAIMED)


async def test_a_run_is_resumed_only_through_the_provider_it_began_with(new_journal):
    async with new_journal() as journal:
        await journal.open("r", provider="smsworks")
        with pytest.raises(JournalError, match="begun through smsworks, not smsscheduler"):
            await journal.open("r", provider="smsscheduler")
        await journal.open("other", provider="smsscheduler")
        assert await journal.runs() == ["r", "other"]


async def test_entries_come_by_position_a_page_at_a_time_and_are_counted(new_journal):
    async with new_journal() as journal:
        run = await journal.open("big", provider="fake")
        for start in range(0, 2500, 500):
            run.claim(claims(*range(start, start + 500)))
        await run.dispatch(list(range(1200)), keyed=True)
        run.record([accepted(i) for i in range(1000)])
        positions = [entry.position async for entry in run.entries()]
        some = [entry.position async for entry in run.entries(upto=9)]
        counts = await run.counts()

    assert positions == list(range(2500))
    assert some == list(range(10))
    assert counts == {
        EntryState.CLAIMED: 1300,
        EntryState.DISPATCHED: 200,
        EntryState.ACCEPTED: 1000,
        EntryState.FAILED: 0,
        EntryState.UNCERTAIN: 0,
        EntryState.SUPPRESSED: 0,
    }


async def test_delivery_statuses_are_recorded_by_position(new_journal):
    async with new_journal() as journal:
        run = await journal.open("r", provider="fake")
        run.claim(claims(0, 1))
        await run.dispatch([0, 1], keyed=True)
        run.record([accepted(0), accepted(1)])
        report = StatusReport(provider="fake", message_id="m1", status=DeliveryStatus.DELIVERED)
        await run.record_delivery([(1, report)])
        deliveries = [entry.delivery async for entry in run.entries()]
    assert deliveries == [None, "delivered"]


def test_the_digest_covers_every_field_but_the_key():
    base = Message("+447700900123", "Hi", reference="r1")
    assert digest_of(base) == digest_of(Message("+44 7700 900123", "Hi", reference="r1"))
    assert digest_of(base) == digest_of(Message("+447700900123", "Hi", reference="r1", key="k"))
    changed = [
        Message("+447700900124", "Hi", reference="r1"),
        Message("+447700900123", "Hi!", reference="r1"),
        Message("+447700900123", "Hi", reference="r2"),
        Message("+447700900123", "Hi", reference="r1", sender="Acme"),
        Message("+447700900123", "Hi", reference="r1", metadata={"a": "b"}),
    ]
    assert len({digest_of(m) for m in [base, *changed]}) == 6
    assert digest_of({"to": "x", "text": "y"}) != digest_of({"to": "x", "text": "z"})


# --- files it cannot use --------------------------------------------------------------------


async def test_a_file_that_is_not_a_database_is_refused_clearly(path):
    path.write_bytes(b"to,text\n+447700900123,Hi\n" * 200)
    journal = SqliteJournal(path)
    with pytest.raises(JournalError, match="is not an smsgate journal, or is damaged"):
        await journal.open("r", provider="fake")


async def test_another_applications_database_is_refused(path):
    with contextlib.closing(sqlite3.connect(path)) as other:
        other.execute("CREATE TABLE notes (text TEXT)")
        other.commit()
    with pytest.raises(JournalError, match="is not an smsgate journal"):
        await SqliteJournal(path).open("r", provider="fake")


async def test_a_journal_of_another_format_is_refused(path):
    async with SqliteJournal(path) as journal:
        await journal.open("r", provider="fake")
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA user_version = 99")
    with pytest.raises(JournalError, match="has format 99; this smsgate reads format 1"):
        await SqliteJournal(path).open("r", provider="fake")


async def test_a_damaged_journal_is_refused(path):
    async with SqliteJournal(path) as journal:
        run = await journal.open("r", provider="fake")
        run.claim(claims(*range(2000)))
        await run.flush()
    data = bytearray(path.read_bytes())
    data[4096:8192] = b"\xff" * 4096  # a page of the tables overwritten
    path.write_bytes(bytes(data))

    async def count():
        async with SqliteJournal(path) as journal:
            run = await journal.open("r", provider="fake")
            await run.counts()

    with pytest.raises(JournalError, match=r"damaged|malformed"):
        await count()


async def test_a_journal_in_use_by_another_process_is_refused(path):
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import asyncio\n"
        "from smsgate.journal.sqlite import SqliteJournal\n"
        "async def hold():\n"
        f"    async with SqliteJournal({str(path)!r}) as journal:\n"
        "        await journal.open('r', provider='fake')\n"
        "        print('holding', flush=True)\n"
        "        await asyncio.sleep(30)\n"
        "asyncio.run(hold())\n",
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdout is not None
    try:
        assert (await holder.stdout.readline()).strip() == b"holding"
        started = time.monotonic()
        with pytest.raises(JournalInUse, match="is in use by another process"):
            await SqliteJournal(path).open("r", provider="fake")
        assert time.monotonic() - started < 5
    finally:
        holder.kill()
        await holder.wait()
    async with SqliteJournal(path) as journal:  # the lock went with the process
        assert (await journal.open("r", provider="fake")).session == 2


def test_bad_settings_are_refused():
    with pytest.raises(JournalError, match="synchronous"):
        SqliteJournal("x", synchronous="OFF")  # type: ignore[arg-type]
    with pytest.raises(JournalError, match="interval"):
        SqliteJournal("x", interval=0)


async def test_the_write_ahead_log_is_checkpointed_off_the_event_loop(path):
    async with SqliteJournal(path) as journal:
        run = await journal.open("big", provider="fake")
        block = claims(*range(1000))
        for start in range(0, 200_000, 1000):
            run.claim([claim._replace(position=start + i) for i, claim in enumerate(block)])
            await run.dispatch(list(range(start, start + 1000)), keyed=True)
        await asyncio.sleep(0.5)  # the checkpointer's turn
        copied = path.stat().st_size
    # The event loop's connection never checkpoints: what reached the file itself while the
    # journal was open, the checkpointer copied.
    assert copied > 10_000_000


async def test_a_second_journal_on_one_file_in_one_process_is_refused_too(path):
    async with SqliteJournal(path) as journal:
        await journal.open("r", provider="fake")
        with pytest.raises(JournalInUse, match="is in use by another process"):
            await SqliteJournal(path).open("r", provider="fake")
