"""How many messages a second `PostgresJournal` records, with several worker processes.

    python benchmarks/bench_journal_postgres.py                  # 2 workers, 200,000 each
    python benchmarks/bench_journal_postgres.py --workers 4 --messages 100000

Each worker is a process of its own with a run of its own in one journal (one schema), and
journals its messages as a bulk run does, a request of ``--block`` messages at a time: claims,
a durable dispatch, outcomes. No request is made: this is the journal's own rate, to set
beside the provider's. Needs PostgreSQL at ``SMSGATE_BENCH_POSTGRES`` (a conninfo; by default
``host=127.0.0.1 port=5432 user=postgres dbname=test``); the schema is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smsgate import DeliveryStatus, Message
from smsgate.journal import Claim, digest_of
from smsgate.journal.postgres import PostgresJournal
from smsgate.model import Receipt
from smsgate.outcomes import Outcome, OutcomeStatus

CONNINFO = os.environ.get(
    "SMSGATE_BENCH_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=test"
)


async def worker(schema: str, run: str, count: int, block: int) -> None:
    """Journal ``count`` messages in blocks; print when it began and ended."""
    messages = [Message(f"+4477{i:08d}", f"Your code is {i:06d}") for i in range(count)]
    async with PostgresJournal(CONNINFO, schema=schema) as journal:
        session = await journal.open(run, provider="smsworks")
        started = time.time()
        for start in range(0, count, block):
            part = messages[start : start + block]
            positions = list(range(start, start + len(part)))
            session.claim(
                [
                    Claim(i, digest_of(m), m.to, None, m.key)
                    for i, m in zip(positions, part, strict=True)
                ]
            )
            await session.dispatch(positions, keyed=True)
            session.record(
                [
                    Outcome(
                        i,
                        OutcomeStatus.ACCEPTED,
                        None,
                        m,
                        Receipt(
                            provider="smsworks",
                            message_id=None,
                            to=m.to,
                            status=DeliveryStatus.QUEUED,
                            batch_id="b",
                        ),
                        key=m.key,
                    )
                    for i, m in zip(positions, part, strict=True)
                ]
            )
        await session.flush()
        ended = time.time()
        await session.close()
    print(started, ended, flush=True)


async def drop(schema: str) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(CONNINFO, autocommit=True) as connection:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description="PostgresJournal's rate with many workers")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--messages", type=int, default=200_000, help="messages a worker")
    parser.add_argument("--block", type=int, default=5000, help="messages a request")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        schema, run, count, block = args.worker
        asyncio.run(worker(schema, run, int(count), int(block)))
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(PostgresJournal(CONNINFO, schema=schema).setup())
    try:
        children = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    schema,
                    f"run-{k}",
                    str(args.messages),
                    str(args.block),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for k in range(args.workers)
        ]
        times = [child.communicate(timeout=3600)[0].split() for child in children]
    finally:
        asyncio.run(drop(schema))
    began = min(float(t[0]) for t in times)
    ended = max(float(t[1]) for t in times)
    total = args.workers * args.messages
    print(
        f"{date.today()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, PostgreSQL at {CONNINFO!r}"
    )
    print()
    print("| workers | messages | a request | took | messages journalled a second |")
    print("|---|---|---|---|---|")
    print(
        f"| {args.workers} | {total:,} | {args.block:,} | {ended - began:.2f} s | "
        f"{total / (ended - began):,.0f} |"
    )


if __name__ == "__main__":
    main()
