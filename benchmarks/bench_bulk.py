"""smsgate against raw aiohttp, on the same loopback server, in the same run.

    python benchmarks/bench_bulk.py            # the full run (a few minutes on 2 cores)
    python benchmarks/bench_bulk.py --quick    # smaller numbers, for a first look

Measures, printing a Markdown table at the end:

1. single sends: ``gateway.send`` at concurrency 50 against a raw aiohttp POST loop sending
   the same bodies (built and encoded per request, as any client would);
2. bulk: ``send_all`` of 100,000 distinct messages through The SMS Works' ``/batch/any``
   against raw aiohttp posting the same JSON, pre-built, in chunks of 5,000 (smsgate's side
   includes checking every message and building the JSON);
3. SMS Scheduler grouping: 100,000 messages in 100 distinct texts: requests and throughput;
4. peak RSS of a process streaming 1,000,000 messages from a generator through ``send_many``.

The server runs in a process of its own on 127.0.0.1. Rounds alternate between the two
clients and the best of each is kept, because this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.server import running
from smsgate import Message, send_all, send_many
from smsgate.providers.base import USER_AGENT
from smsgate.providers.smsscheduler import SmsSchedulerGateway
from smsgate.providers.smsworks import SmsWorksGateway

TOKEN = "JWT bench-token"
HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept": "application/json",
    "Content-Type": "application/json",
    "Authorization": TOKEN,
}


def number(i: int) -> str:
    return f"+44770{i:07d}"


def distinct(n: int) -> list[Message]:
    return [Message(number(i), f"Your code is {i:06d}", reference=str(i)) for i in range(n)]


async def drive(count: int, concurrency: int, call: Callable[[int], Awaitable[Any]]) -> float:
    """Seconds to make ``count`` calls, ``concurrency`` at a time."""
    indexes = iter(range(count))

    async def worker() -> None:
        for i in indexes:
            await call(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


# --- 1. single sends -----------------------------------------------------------------------


async def single_raw(base: str, rows: list[tuple[str, str]], concurrency: int) -> float:
    """A dict built and encoded per request (``json=``), its answer decoded: what any
    client does."""
    url = base + "/v1/message/send"
    async with aiohttp.ClientSession() as session:

        async def call(i: int) -> Any:
            to, text = rows[i]
            body = {"sender": "Acme", "destination": to[1:], "content": text}
            async with session.post(url, json=body, headers=HEADERS) as answer:
                return json.loads(await answer.read())

        return len(rows) / await drive(len(rows), concurrency, call)


async def single_smsgate(base: str, rows: list[tuple[str, str]], concurrency: int) -> float:
    """``gateway.send`` of a `Message` built in the loop (its number checked)."""
    async with SmsWorksGateway(token=TOKEN, sender="Acme", base_url=base + "/v1") as gateway:

        async def call(i: int) -> Any:
            to, text = rows[i]
            return await gateway.send(Message(to, text))

        return len(rows) / await drive(len(rows), concurrency, call)


async def single_prebuilt(base: str, messages: list[Message], concurrency: int) -> float:
    """``gateway.send`` of `Message` objects built beforehand."""
    async with SmsWorksGateway(token=TOKEN, sender="Acme", base_url=base + "/v1") as gateway:

        async def call(i: int) -> Any:
            return await gateway.send(messages[i])

        return len(messages) / await drive(len(messages), concurrency, call)


# --- 2. bulk through /batch/any ------------------------------------------------------------


async def bulk_raw(base: str, rows: list[tuple[str, str]], concurrency: int) -> float:
    """``/batch/any`` in chunks of 5,000: one dict built per message and the chunk encoded
    (``json=``) inside the timed region, as any client does."""
    url = base + "/v1/batch/any"
    starts = range(0, len(rows), 5000)
    async with aiohttp.ClientSession() as session:

        async def call(i: int) -> Any:
            chunk = [
                {"sender": "Acme", "destination": to[1:], "content": text}
                for to, text in rows[starts[i] : starts[i] + 5000]
            ]
            async with session.post(url, json=chunk, headers=HEADERS) as answer:
                return json.loads(await answer.read())

        return len(rows) / await drive(len(starts), concurrency, call)


async def bulk_smsgate(base: str, items: list[Any], concurrency: int) -> float:
    """``send_all`` of pre-built `Message` objects (or dict rows)."""
    async with SmsWorksGateway(token=TOKEN, sender="Acme", base_url=base + "/v1") as gateway:
        started = time.perf_counter()
        summary = await send_all(gateway, items, concurrency=concurrency)
        elapsed = time.perf_counter() - started
    assert summary.accepted == len(items), summary
    return len(items) / elapsed


async def bulk_from_strings(base: str, rows: list[tuple[str, str]], concurrency: int) -> float:
    """``send_many`` of `Message` objects built from strings as they are read (each number
    checked), every outcome read."""
    async with SmsWorksGateway(token=TOKEN, sender="Acme", base_url=base + "/v1") as gateway:
        started = time.perf_counter()
        accepted = 0
        messages = (Message(to, text) for to, text in rows)
        async for outcome in send_many(gateway, messages, concurrency=concurrency):
            accepted += outcome.receipt is not None
        elapsed = time.perf_counter() - started
    assert accepted == len(rows), accepted
    return len(rows) / elapsed


# --- 3. SMS Scheduler grouping -------------------------------------------------------------


async def grouping(base: str, count: int, texts: int, concurrency: int) -> tuple[int, float]:
    messages = [Message(number(i), f"Offer number {i % texts}") for i in range(count)]
    requests = 0

    class Counting(SmsSchedulerGateway):
        async def send_chunk(self, chunk: Any, at: Any) -> Any:
            nonlocal requests
            requests += 1
            return await super().send_chunk(chunk, at)

    async with Counting(token="t", sender_id=1, base_url=base + "/api/v1") as gateway:
        started = time.perf_counter()
        summary = await send_all(gateway, messages, concurrency=concurrency)
        elapsed = time.perf_counter() - started
    assert summary.accepted == count, summary
    return requests, count / elapsed


# --- 4. peak RSS of a million ------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM belongs to this process image alone;
    ru_maxrss would carry over the parent's peak across fork and exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stream_a_million(base: str, count: int) -> None:
    """Run in a child process: stream ``count`` messages, print the peak RSS in MB."""

    def rows() -> Iterator[Message]:
        for i in range(count):
            yield Message(number(i), f"Your code is {i:06d}")

    async def main() -> int:
        accepted = 0
        async with SmsWorksGateway(token=TOKEN, sender="Acme", base_url=base + "/v1") as g:
            async for outcome in send_many(g, rows(), concurrency=8):
                accepted += outcome.receipt is not None
        return accepted

    before = peak_rss_mb()
    started = time.perf_counter()
    accepted = asyncio.run(main())
    peak = peak_rss_mb()
    elapsed = time.perf_counter() - started
    print(json.dumps({"before": before, "peak": peak, "accepted": accepted, "seconds": elapsed}))


# --- running -------------------------------------------------------------------------------


def best(rounds: int, *runs: Callable[[], float]) -> list[list[float]]:
    """Alternate the runs ``rounds`` times; every result of each."""
    results: list[list[float]] = [[] for _ in runs]
    for _ in range(rounds):
        for i, run in enumerate(runs):
            results[i].append(run())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="smsgate against raw aiohttp on loopback")
    parser.add_argument("--quick", action="store_true", help="smaller numbers")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child-rss", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=1_000_000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_rss:
        stream_a_million(args.child_rss, args.count)
        return

    singles, bulk, million = (1000, 20_000, 100_000) if args.quick else (5000, 100_000, 1_000_000)
    rows = []
    with running() as base:
        strings = [(number(i), f"Your code is {i:06d}") for i in range(singles)]
        messages = [Message(to, text) for to, text in strings]
        raw, ours, prebuilt = best(
            args.rounds,
            lambda: asyncio.run(single_raw(base, strings, 50)),
            lambda: asyncio.run(single_smsgate(base, strings, 50)),
            lambda: asyncio.run(single_prebuilt(base, messages, 50)),
        )
        label = "`gateway.send`, concurrency 50, `Message` built in the loop"
        rows.append((label, f"{singles:,}", max(raw), max(ours), "req/s"))
        label = "`gateway.send`, concurrency 50, `Message` objects built before"
        rows.append((label, f"{singles:,}", max(raw), max(prebuilt), "req/s"))
        print(f"single: raw {raw}, smsgate {ours}, pre-built {prebuilt}")

        strings = [(number(i), f"Your code is {i:06d}") for i in range(bulk)]
        messages = [Message(to, text) for to, text in strings]
        raw, ours, built = best(
            args.rounds,
            lambda: asyncio.run(bulk_raw(base, strings, 8)),
            lambda: asyncio.run(bulk_smsgate(base, messages, 8)),
            lambda: asyncio.run(bulk_from_strings(base, strings, 8)),
        )
        label = "`send_all`, `/batch/any`, `Message` objects built before"
        rows.append((label, f"{bulk:,}", max(raw), max(ours), "msg/s"))
        label = "`send_many`, `/batch/any`, each `Message` built from strings as it is read"
        rows.append((label, f"{bulk:,}", max(raw), max(built), "msg/s"))
        print(f"bulk: raw {raw}, smsgate {ours}, from strings {built}")

        requests, rate = asyncio.run(grouping(base, bulk, 100, 8))
        print(f"grouping: {requests} requests, {rate:.0f} msg/s")

        child = subprocess.run(
            [sys.executable, __file__, "--child-rss", base, "--count", str(million)],
            capture_output=True,
            text=True,
            check=True,
        )
        rss = json.loads(child.stdout)
        print(f"rss: {rss}")

    print()
    print(
        f"{date.today()}, {platform.machine()}, {multiprocessing.cpu_count()} cores, "
        f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}"
    )
    print()
    print("| benchmark | messages | raw aiohttp | smsgate | ratio |")
    print("|---|---|---|---|---|")
    for label, count, raw_best, ours_best, unit in rows:
        print(
            f"| {label} | {count} | {raw_best:,.0f} {unit} | {ours_best:,.0f} {unit} | "
            f"{ours_best / raw_best:.2f} |"
        )
    print(
        f"| SMS Scheduler grouping, 100 texts | {bulk:,} | — | {rate:,.0f} msg/s in "
        f"{requests:,} requests | — |"
    )
    print(
        f"| streaming from a generator, peak RSS | {million:,} | — | "
        f"{rss['peak']:.0f} MB ({rss['before']:.0f} MB after imports), "
        f"{rss['accepted'] / rss['seconds']:,.0f} msg/s | — |"
    )


if __name__ == "__main__":
    main()
