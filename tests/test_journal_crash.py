"""A journalled run killed by SIGKILL, in a process of its own, at many points, then resumed:
every message is sent exactly once, as the provider's own record (the sandbox's) shows, or is
reported uncertain where the kill fell between its dispatch and its answer and the provider
cannot be searched.

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
from tests.support.sandbox import ThreadedSandbox

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parent.parent
COUNT = 10_000
KILLS = 9  # per provider: the five targeted moments below, and four random ones
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
# random moment (between chunks, or anywhere).
PLAN = ["ready", "commit:3", "commit:6", "stored", "stored"] + ["random"] * (KILLS - 5)


@pytest.mark.parametrize("provider", ["smsworks", "smsscheduler"])
def test_a_run_killed_anywhere_resumes_with_every_message_sent_exactly_once(
    sandbox, tmp_path, provider
):
    first = 0 if provider == "smsworks" else 500_000
    kill_and_resume(sandbox, provider, first, PLAN, lambda k: tmp_path / f"{k}.journal")


def test_a_run_journalled_in_postgres_killed_anywhere_resumes_exactly_once(
    sandbox, postgres_schema
):
    plan = ["ready", "commit:3", "commit:6", "stored", "random", "random"]
    kill_and_resume(sandbox, "smsworks", 900_000, plan, lambda k: f"postgres:{postgres_schema}_{k}")


def kill_and_resume(sandbox, provider, first, plan, journal_of) -> None:
    """Kill a run at each point of ``plan``, resume it, and hold the provider's record to
    what the resumed run reports."""
    chance = random.Random(20261203)
    rows = []
    for k, where in enumerate(plan):
        base = first + k * COUNT
        journal = journal_of(k)
        stall = int(where.split(":")[1]) if where.startswith("commit") else None
        process = start(sandbox, provider, journal, base, stall)
        wait_for(process, "ready")
        if where == "ready":
            pass
        elif stall is not None:
            wait_for(process, "in-commit")
        elif where == "stored":
            deadline = time.monotonic() + 20
            while not ours(sandbox, provider, base) and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(LATENCY / 3)  # its answer is still held
        else:
            time.sleep(chance.uniform(0, 1.5))
        process.send_signal(signal.SIGKILL)
        process.communicate()
        time.sleep(LATENCY + 0.1)  # what was in flight reaches the provider, or not
        at_kill = sum(ours(sandbox, provider, base).values())
        fresh = isinstance(journal, Path) and not journal.exists()
        left = {} if fresh else journal_state(journal, provider)

        resumed = start(sandbox, provider, journal, base)
        out, err = resumed.communicate(timeout=120)
        assert resumed.returncode == 0, err
        result = json.loads(out.splitlines()[-1])
        time.sleep(LATENCY + 0.1)
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
    assert sum(1 for row in rows if 0 < row[1] < COUNT) >= 3  # kills fell mid-run
    assert any(row[1] == 0 for row in rows)  # and before any request
