"""The PostgreSQL journal keeps the journal's rules (each state, which `tests.test_journal`
tests on every store, and what is durable when), and what a shared server adds: one session
of a run at a time across processes, freed when the process holding it dies. Against the
machine's PostgreSQL, in a schema of each test's own."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smsgate.journal import EntryState, Journal, JournalError, JournalInUse, JournalRun
from smsgate.journal.postgres import PostgresJournal
from tests.support.postgres import CONNINFO
from tests.test_journal import accepted, claims, states

ROOT = Path(__file__).parent.parent


def journal(schema: str, **settings: float) -> PostgresJournal:
    return PostgresJournal(CONNINFO, schema=schema, **settings)


def test_the_postgres_journal_keeps_the_protocols():
    assert isinstance(PostgresJournal("dbname=x"), Journal)
    assert "dbname" not in repr(PostgresJournal("dbname=x password=secret"))


async def test_a_dispatch_is_durable_when_it_returns_and_claims_and_outcomes_soon_after(
    postgres_schema,
):
    first = journal(postgres_schema, interval=0.05)
    run = await first.open("r", provider="fake")
    run.claim(claims(0, 1, 2))
    await run.dispatch([0], keyed=True)
    run.record([accepted(0)])
    run.claim(claims(3))
    await run._connection.close()  # as if the process died: nothing buffered is written

    async with journal(postgres_schema, interval=0.05) as again:
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
        await resumed._connection.close()

    async with journal(postgres_schema) as third:
        last = await third.open("r", provider="fake")
        found = {entry.position: entry async for entry in last.entries()}
    assert (found[1].state, found[5].state) == (EntryState.ACCEPTED, EntryState.CLAIMED)
    assert (found[5].session, found[1].session, last.session) == (2, 1, 3)


async def test_one_session_of_a_run_at_a_time_and_the_run_is_free_once_closed(postgres_schema):
    async with journal(postgres_schema) as one, journal(postgres_schema) as two:
        run = await one.open("r", provider="fake")
        with pytest.raises(JournalInUse, match="'r' is in use by another process"):
            await two.open("r", provider="fake")
        other = await two.open("s", provider="fake")  # other runs go on beside it
        assert other.session == 1
        await run.close()
        again = await two.open("r", provider="fake")
        assert again.session == 2  # the refused open took no session


async def test_runs_of_journals_in_other_schemas_never_hold_each_other_up(postgres_schema):
    # Each schema numbers its runs from 1, and advisory locks belong to the whole database.
    async with (
        journal(f"{postgres_schema}_a") as one,
        journal(f"{postgres_schema}_b") as two,
    ):
        first = await one.open("r", provider="fake")
        second = await two.open("r", provider="fake")
        assert (first.session, second.session) == (1, 1)
        with pytest.raises(JournalError, match="in use"):
            await one.open("r", provider="fake")
        await first.close()
        await second.close()


async def test_two_runs_written_at_once_lose_no_update(postgres_schema):
    async with journal(postgres_schema, interval=0.01) as one, journal(postgres_schema) as two:
        runs = [await one.open("a", provider="fake"), await two.open("b", provider="fake")]

        async def write(run: JournalRun) -> None:
            for start in range(0, 3000, 250):
                block = list(range(start, start + 250))
                run.claim(claims(*block))
                await run.dispatch(block, keyed=True)
                run.record([accepted(i) for i in block])
            await run.flush()

        await asyncio.gather(*(write(run) for run in runs))
        counts = [await run.counts() for run in runs]
    assert [c[EntryState.ACCEPTED] for c in counts] == [3000, 3000]
    assert [sum(c.values()) for c in counts] == [3000, 3000]


HOLD = """
import asyncio, sys
from smsgate.journal.postgres import PostgresJournal

async def main():
    journal = PostgresJournal(sys.argv[1], schema=sys.argv[2])
    run = await journal.open("r", provider="fake")
    print("holding", run.session, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


@pytest.mark.parametrize("signal_number", [signal.SIGKILL, signal.SIGTERM])
def test_a_run_held_by_a_process_that_dies_is_free_again(postgres_schema, signal_number):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, CONNINFO, postgres_schema],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    async def open_run() -> JournalRun:
        async with journal(postgres_schema) as store:
            return await store.open("r", provider="fake")

    try:
        assert holder.stdout is not None
        line = holder.stdout.readline()
        assert line.split() == ["holding", "1"], line
        with pytest.raises(JournalError, match="in use"):
            asyncio.run(open_run())
        os.kill(holder.pid, signal_number)
        holder.communicate(timeout=10)
        for _ in range(100):  # the server notices the closed connection at once
            try:
                run = asyncio.run(open_run())
                break
            except JournalError:
                time.sleep(0.05)
        else:
            pytest.fail("the dead process's run was never freed")
        assert run.session == 2
    finally:
        holder.kill()
        holder.communicate()  # closes its pipes


async def test_a_write_that_fails_breaks_the_run_and_says_so(postgres_schema):
    async with journal(postgres_schema) as store:
        run = await store.open("r", provider="fake")
        run.claim(claims(0))
        await run.flush()
        await run._connection.close()  # the server went away
        run.record([accepted(0)])
        with pytest.raises(JournalError, match="could not be recorded"):
            await run.dispatch([0], keyed=True)
        with pytest.raises(JournalError, match="could not be recorded"):
            await run.flush()


def test_bad_settings_are_refused():
    with pytest.raises(JournalError, match="conninfo"):
        PostgresJournal("  ")
    with pytest.raises(JournalError, match="interval"):
        PostgresJournal("dbname=x", interval=0)
    for schema in ("Public", "1abc", "a-b", "x" * 64, "a; DROP TABLE t", ""):
        with pytest.raises(JournalError, match="not a plain PostgreSQL name"):
            PostgresJournal("dbname=x", schema=schema)


async def test_an_unreachable_server_is_a_journal_error():
    store = PostgresJournal("host=127.0.0.1 port=1 user=postgres dbname=x connect_timeout=2")
    with pytest.raises(JournalError, match="cannot connect to the journal's PostgreSQL"):
        await store.open("r", provider="fake")
    with pytest.raises(JournalError):
        await store.runs()


async def test_an_empty_run_name_is_refused(postgres_schema):
    async with journal(postgres_schema) as store:
        with pytest.raises(JournalError, match="run: must be a non-empty string"):
            await store.open(" ", provider="fake")
