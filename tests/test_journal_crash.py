"""A journalled run killed by SIGKILL, in a process of its own, at many points, then resumed:
every message is sent exactly once, as the provider's own record (the sandbox's) shows, or is
reported uncertain where the kill fell between its dispatch and its answer and the provider
cannot be searched.

The whole crash matrix (nine kills) runs on The SMS Works with a SQLite journal; SMS Scheduler
(which cannot be searched) and the PostgreSQL journal are killed at three points that stand for
it: before any request, inside a journal commit, and mid-run with the provider holding a
chunk's answer.

Run with ``-s`` to see the crash matrix: where each kill fell, what the journal held, and
how the resumed run ended.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from smsgate.journal import Journal
from smsgate.journal.sqlite import SqliteJournal
from tests.support.postgres import CONNINFO
from tests.support.sandbox import ThreadedSandbox, settle

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parent.parent
COUNT = 2_000
CHUNK = 200  # four requests at once (the child's concurrency): three rounds of requests
LATENCY = 0.15  # the sandbox holds each answer, so that kills find requests in flight


@pytest.fixture(scope="module")
def sandbox():
    with ThreadedSandbox(seed=1, failure_rate=0, latency=LATENCY) as box:
        yield box


def start(sandbox, provider, journal, first, stall: int | None = None):
    environment = dict(os.environ)
    if stall is not None:
        environment["SMSGATE_CRASH_IN_COMMIT"] = str(stall)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.journal_child",
            json.dumps(sandbox.config(provider)),
            str(journal),
            str(first),
            str(COUNT),
            str(CHUNK),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )


def wait_for(process, line: str) -> None:
    while True:
        got = process.stdout.readline()
        assert got, process.stderr.read()
        if got.strip() == line:
            return


def wait_until_taken(sandbox, provider, before: int, least: int) -> None:
    """Wait until the provider has taken ``least`` messages more than ``before`` (the run
    under test is the only one sending)."""
    deadline = time.monotonic() + 20
    while len(sandbox.accounts[provider].messages) - before < least:
        assert time.monotonic() < deadline, "the run sent too little"
        time.sleep(0.005)


def ours(sandbox, provider, first) -> Counter[str]:
    numbers = {f"+447700{first + i:06d}" for i in range(COUNT)}
    return Counter(sms.to for sms in sandbox.messages(provider) if sms.to in numbers)


def journal_state(path, provider) -> dict[str, int]:
    async def read():
        store: Journal
        if str(path).startswith("postgres:"):
            from smsgate.journal.postgres import PostgresJournal

            store = PostgresJournal(CONNINFO, schema=str(path).removeprefix("postgres:"))
        else:
            store = SqliteJournal(path)
        async with store as journal:
            if "crash" not in await journal.runs():
                return {}
            run = await journal.open("crash", provider=provider)
            return {s.name.lower(): n for s, n in (await run.counts()).items() if n}

    return asyncio.run(read())


# Where each kill falls: "ready" (before any request), "commit" (in the middle of a journal
# transaction), "stored" (a chunk stored by the provider, its answer held: mid-chunk), or a
# random moment (once the provider holds a random number of the run's messages, a random part
# of a request's latency later: with answers held, or between chunks).
PLAN = ["ready", "commit:3", "commit:6", "stored", "stored"] + ["random"] * 4
# The three points that stand for the matrix. With SQLite the 6th transaction commits a
# dispatch whose request never leaves; with PostgreSQL it records answers mid-run.
SHORT_PLAN = ["ready", "commit:6", "stored"]


@pytest.mark.parametrize(
    ("provider", "plan"),
    [
        pytest.param("smsworks", PLAN, id="smsworks"),
        pytest.param("smsscheduler", SHORT_PLAN, id="smsscheduler"),
    ],
)
def test_a_run_killed_anywhere_resumes_with_every_message_sent_exactly_once(
    sandbox, tmp_path, provider, plan
):
    first = 0 if provider == "smsworks" else 500_000
    kill_and_resume(sandbox, provider, first, plan, lambda k: tmp_path / f"{k}.journal")


def test_a_run_journalled_in_postgres_killed_anywhere_resumes_exactly_once(
    sandbox, postgres_schema
):
    kill_and_resume(
        sandbox, "smsworks", 900_000, SHORT_PLAN, lambda k: f"postgres:{postgres_schema}_{k}"
    )


def kill_and_resume(sandbox, provider, first, plan, journal_of) -> None:
    """Kill a run at each point of ``plan``, resume it, and hold the provider's record to
    what the resumed run reports."""
    chance = random.Random(20261203)
    rows = []
    for k, where in enumerate(plan):
        base = first + k * COUNT
        journal = journal_of(k)
        stall = int(where.split(":")[1]) if where.startswith("commit") else None
        before = len(sandbox.accounts[provider].messages)
        process = start(sandbox, provider, journal, base, stall)
        wait_for(process, "ready")
        if where == "ready":
            pass
        elif stall is not None:
            wait_for(process, "in-commit")
        elif where == "stored":
            wait_until_taken(sandbox, provider, before, 1)
            time.sleep(LATENCY / 3)  # its answer is still held
        else:
            wait_until_taken(sandbox, provider, before, chance.randrange(1, COUNT))
            time.sleep(chance.uniform(0, LATENCY))
        process.send_signal(signal.SIGKILL)
        process.communicate()
        settle(sandbox, quiet=0.1)  # what was in flight reaches the provider, or not
        at_kill = sum(ours(sandbox, provider, base).values())
        fresh = isinstance(journal, Path) and not journal.exists()
        left = {} if fresh else journal_state(journal, provider)

        resumed = start(sandbox, provider, journal, base)
        out, err = resumed.communicate(timeout=120)
        assert resumed.returncode == 0, err
        result = json.loads(out.splitlines()[-1])
        settle(sandbox, quiet=0.1)
        record = ours(sandbox, provider, base)

        # Nobody twice; nobody skipped unless reported uncertain; accepted means stored.
        assert max(record.values(), default=0) <= 1
        uncertain = {f"+447700{base + i:06d}" for i in result["uncertain"]}
        missing = {f"+447700{base + i:06d}" for i in range(COUNT)} - set(record)
        assert missing <= uncertain
        assert result["accepted"] + len(result["uncertain"]) == COUNT
        assert result["failed"] == result["unsent"] == 0
        if provider == "smsworks":
            assert not uncertain - missing  # each one found was resolved
        dispatched = left.get("dispatched", 0) + left.get("uncertain", 0)
        assert len(uncertain) <= dispatched
        rows.append(
            (
                where,
                at_kill,
                left,
                result["earlier"],
                result["resolved"],
                len(uncertain),
                len(missing),
                sum(record.values()),
            )
        )

    print(f"\ncrash matrix, {provider}, {COUNT:,} messages a run:")
    print(
        "kill at    | stored at kill | journal after kill | earlier | resolved | uncertain |"
        " never stored | stored in all"
    )
    for where, at_kill, left, earlier, resolved, unsure, never_stored, total in rows:
        print(
            f"{where:10} | {at_kill:14,} | {json.dumps(left):40} | {earlier:7,} | "
            f"{resolved:8,} | {unsure:9,} | {never_stored:12,} | {total:,}"
        )
    # Kills fell mid-run (three at least in the whole matrix, one in the short plan), and one
    # before any request.
    assert sum(1 for row in rows if 0 < row[1] < COUNT) >= (3 if len(plan) == len(PLAN) else 1)
    assert any(row[1] == 0 for row in rows)
