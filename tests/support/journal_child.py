"""A journalled bulk run in a process of its own, for the crash tests to kill.

    python -m tests.support.journal_child CONFIG_JSON JOURNAL FIRST COUNT CHUNK

sends COUNT messages (to +447700000000 + FIRST ...) through the provider CONFIG_JSON
configures, CHUNK messages a request and four requests at once, journalled in JOURNAL (a
SQLite file, or ``postgres:SCHEMA`` for a `PostgresJournal` in that schema of the test server)
under the run "crash"; prints ``ready`` before the first request, and at the end one line of
JSON: the counts and every uncertain input's number. ``SMSGATE_CRASH_IN_COMMIT=K`` stalls the
K-th journal transaction before its commit, after printing ``in-commit``, so that a kill can
fall in the middle of a journal write.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import smsgate
from smsgate import Message, send_many
from smsgate.journal._sqlite_store import writing
from smsgate.journal.sqlite import SqliteJournal


def stall_in_commit(k: int, postgres: bool) -> None:
    if postgres:
        stall_in_postgres_commit(k)
        return
    exit_writing = writing.__exit__
    seen = [0]

    def exiting(self: Any, exc_type: Any, exc: Any, tb: Any) -> None:
        seen[0] += 1
        if seen[0] == k and exc is None:
            print("in-commit", flush=True)
            time.sleep(30)
        exit_writing(self, exc_type, exc, tb)

    writing.__exit__ = exiting  # type: ignore[method-assign]


def stall_in_postgres_commit(k: int) -> None:
    import psycopg

    exit_transaction = psycopg.AsyncTransaction.__aexit__
    seen = [0]

    async def exiting(self: Any, exc_type: Any, exc: Any, tb: Any) -> Any:
        seen[0] += 1
        if seen[0] == k and exc is None:
            print("in-commit", flush=True)
            time.sleep(30)  # noqa: ASYNC251 - the whole process stalls mid-commit, to be killed
        return await exit_transaction(self, exc_type, exc, tb)

    psycopg.AsyncTransaction.__aexit__ = exiting  # type: ignore[method-assign,assignment]


def open_journal(spec: str) -> Any:
    if spec.startswith("postgres:"):
        from smsgate.journal.postgres import PostgresJournal
        from tests.support.postgres import CONNINFO

        return PostgresJournal(CONNINFO, schema=spec.removeprefix("postgres:"))
    return SqliteJournal(spec)


async def main(
    config: dict[str, Any], journal_path: str, first: int, count: int, chunk: int
) -> None:
    text = "Sale" if config["provider"] == "smsscheduler" else None
    messages = (
        Message(f"+447700{first + i:06d}", text or f"Code {i}", reference=f"r{i}")
        for i in range(count)
    )
    async with (
        smsgate.from_config(config) as gateway,
        open_journal(journal_path) as journal,
    ):
        print("ready", flush=True)
        run = send_many(
            gateway,
            messages,
            journal=journal,
            run="crash",
            chunk_size=chunk,
            concurrency=4,
            resolve_patience=1,
        )
        uncertain = []
        async with run:
            async for outcome in run:
                if outcome.status is smsgate.OutcomeStatus.UNCERTAIN:
                    uncertain.append(outcome.index)
        summary = run.summary
    print(
        json.dumps(
            {
                "accepted": summary.accepted,
                "failed": summary.failed,
                "uncertain": sorted(uncertain),
                "unsent": summary.unsent,
                "earlier": summary.earlier,
                "resolved": summary.resolved,
                "session": run.session,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    stall = os.environ.get("SMSGATE_CRASH_IN_COMMIT")
    if stall:
        stall_in_commit(int(stall), postgres=sys.argv[2].startswith("postgres:"))
    config, journal, first, count, chunk = sys.argv[1:6]
    asyncio.run(main(json.loads(config), journal, int(first), int(count), int(chunk)))
