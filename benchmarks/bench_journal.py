"""What the journal costs: the same bulk run with and without `SqliteJournal`, on the same
loopback server, in the same run; and how long the journal ever holds the event loop.

    python benchmarks/bench_journal.py            # 100,000 messages, 5 rounds
    python benchmarks/bench_journal.py --quick    # 20,000 messages, 3 rounds

Measures, printing a Markdown table at the end:

1. ``send_all`` of pre-built `Message` objects through The SMS Works' ``/batch/any``, and of
   dict rows (each `Message` built and its number parsed inside the timed region), with and
   without a journal; the ratio is journalled / plain throughput;
2. the same through SMS Scheduler (one ``POST /sms`` per text, 500 numbers);
3. single sends (one message a request, concurrency 50), where each request's dispatch
   must be committed before it leaves;
4. the event loop's worst pause: a task that wakes every millisecond records how late it
   woke, with and without the journal; and the longest single call into the journal
   (encoding a block, committing, folding);
5. resuming: opening a finished run of that size (folding its log) and reading it back.

The server runs in a process of its own on 127.0.0.1. Rounds alternate between the
journalled and plain runs and the best of each is kept, because this machine is shared. The
inputs are built once and frozen out of the garbage collector's reach (``gc.freeze``), as a
service's long-lived objects would be.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import multiprocessing
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.server import running
from smsgate import Message, send_all
from smsgate.journal import sqlite
from smsgate.journal.sqlite import SqliteJournal
from smsgate.providers.smsscheduler import SmsSchedulerGateway
from smsgate.providers.smsworks import SmsWorksGateway

TOKEN = "JWT bench-token"


def number(i: int) -> str:
    return f"+44770{i:07d}"


class Stalls:
    """The longest time any one journal call held the event loop."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.where = ""

    def watch(self, owner: Any, name: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                took = time.perf_counter() - started
                if took > self.longest:
                    self.longest, self.where = took, name

        setattr(owner, name, timed)


STALLS = Stalls()
for method in ("claim", "record", "_commit"):
    STALLS.watch(sqlite.SqliteRun, method)


async def lag_while(work: Awaitable[Any]) -> tuple[Any, float]:
    """Run ``work`` while a task wakes every millisecond; the latest it woke, in seconds."""
    worst = 0.0
    done = False

    async def watch() -> None:
        nonlocal worst
        loop = asyncio.get_running_loop()
        while not done:
            planned = loop.time() + 0.001
            await asyncio.sleep(0.001)
            worst = max(worst, loop.time() - planned)

    watcher = asyncio.create_task(watch())
    try:
        result = await work
    finally:
        done = True
        await watcher
    return result, worst


Gateway = Callable[[str], Any]


def works(base: str) -> SmsWorksGateway:
    return SmsWorksGateway(token=TOKEN, sender="Acme", base_url=base + "/v1")


def scheduler(base: str) -> SmsSchedulerGateway:
    return SmsSchedulerGateway(token="t", sender_id=1, base_url=base + "/api/v1")


async def one_run(
    base: str, gateway: Gateway, items: list[Any], journalled: bool, **options: Any
) -> tuple[float, float]:
    """Messages a second, and the event loop's worst pause."""
    with tempfile.TemporaryDirectory() as folder:
        journal = SqliteJournal(Path(folder) / "bench.journal") if journalled else None
        if journal is not None:
            options.update(journal=journal, run="bench")
        options.setdefault("concurrency", 8)
        async with gateway(base) as opened:
            started = time.perf_counter()
            summary, lag = await lag_while(send_all(opened, items, **options))
            elapsed = time.perf_counter() - started
        if journal is not None:
            await journal.aclose()
    assert summary.accepted == len(items), summary
    return len(items) / elapsed, lag


async def resume_cost(base: str, items: list[Any]) -> tuple[float, float, float]:
    """Seconds to open a finished run again (folding its log), to read it back, and the
    worst pause meanwhile."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.journal"
        async with SqliteJournal(path) as journal, works(base) as gateway:
            await send_all(gateway, items, journal=journal, run="bench")

        async def reopen() -> tuple[float, float]:
            async with SqliteJournal(path) as journal:
                started = time.perf_counter()
                run = await journal.open("bench", provider="smsworks")
                opened = time.perf_counter() - started
                started = time.perf_counter()
                count = sum([1 async for _ in run.entries()])
                assert count == len(items)
                return opened, time.perf_counter() - started

        (opened, read), lag = await lag_while(reopen())
    return opened, read, lag


def main() -> None:
    parser = argparse.ArgumentParser(description="the journal's cost on loopback")
    parser.add_argument("--quick", action="store_true", help="smaller numbers")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    count = 20_000 if args.quick else 100_000
    rounds = args.rounds or (3 if args.quick else 5)

    messages = [Message(number(i), f"Your code is {i:06d}") for i in range(count)]
    dicts = [{"to": m.to, "text": m.text} for m in messages]
    grouped = [Message(number(i), f"Offer {i % 100}") for i in range(count)]
    # The inputs live as long as the benchmark: keep the collector from walking them again
    # and again, which would charge both sides for the benchmark's own heap.
    gc.freeze()
    singles = {"chunk_size": 1, "concurrency": 50}
    cases: list[tuple[str, Gateway, list[Any], dict[str, Any]]] = [
        ("The SMS Works /batch/any, Message objects", works, messages, {}),
        ("The SMS Works /batch/any, dict rows", works, dicts, {}),
        ("SMS Scheduler, 100 texts", scheduler, grouped, {}),
        ("The SMS Works, one message a request, concurrency 50", works, messages[:5000], singles),
    ]
    table = []
    with running() as base:
        for label, gateway, items, options in cases:
            plain: list[tuple[float, float]] = []
            journalled: list[tuple[float, float]] = []
            for _ in range(rounds):
                plain.append(asyncio.run(one_run(base, gateway, items, False, **options)))
                journalled.append(asyncio.run(one_run(base, gateway, items, True, **options)))
            best_plain = max(rate for rate, _ in plain)
            best_journalled = max(rate for rate, _ in journalled)
            lag_plain = max(lag for _, lag in plain)
            lag_journalled = max(lag for _, lag in journalled)
            table.append(
                (label, len(items), best_plain, best_journalled, lag_plain, lag_journalled)
            )
            print(
                f"{label}: plain {[round(r) for r, _ in plain]}, journalled "
                f"{[round(r) for r, _ in journalled]} msg/s"
            )
        gc.collect()  # what the runs left behind is not the journal's to collect
        opened, read, lag = asyncio.run(resume_cost(base, messages))

    print()
    print(
        f"{date.today()}, {platform.machine()}, {multiprocessing.cpu_count()} cores, "
        f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
        f"SQLite {sqlite.sqlite3.sqlite_version}, best of {rounds} alternating rounds"
    )
    print()
    print(
        "| run | messages | no journal | journal | ratio | worst loop pause, no journal / journal |"
    )
    print("|---|---|---|---|---|---|")
    for label, size, best_plain, best_journalled, lag_plain, lag_journalled in table:
        print(
            f"| {label} | {size:,} | {best_plain:,.0f} msg/s | {best_journalled:,.0f} msg/s | "
            f"{best_journalled / best_plain:.2f} | {lag_plain * 1000:.1f} ms / "
            f"{lag_journalled * 1000:.1f} ms |"
        )
    print()
    print(
        f"Longest single journal call on the event loop: {STALLS.longest * 1000:.1f} ms "
        f"({STALLS.where}). Reopening a finished run of {count:,} (folding its log): "
        f"{opened:.2f} s; reading every entry back: {read:.2f} s; worst pause meanwhile "
        f"{lag * 1000:.1f} ms."
    )


if __name__ == "__main__":
    main()
