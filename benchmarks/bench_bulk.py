"""smsgate against raw aiohttp, on the same loopback server, in the same run.

    python benchmarks/bench_bulk.py            # the full run (a few minutes on 2 cores)
    python benchmarks/bench_bulk.py --quick    # smaller numbers, for a first look

Measures, printing a Markdown table at the end:

1. single sends: ``gateway.send`` at concurrency 50 against a raw aiohttp POST loop sending
   the same bodies (built and encoded per request, as any client would);
2. bulk: ``send_all`` of 100,000 distinct messages through The SMS Works' ``/batch/any``
   against raw aiohttp posting the same JSON, pre-built, in chunks of 5,000 (smsgate's side
   includes checking every message and building the JSON). smsgate writes each message's
   idempotency key, which the raw client does not: two more rows compare them posting the
   same bytes (raw writing the keys too, and smsgate with ``idempotency_keys=False``), which
   splits the gap into what the keys cost the client, kernel and server, and smsgate's own;
3. SMS Scheduler grouping: 100,000 messages in 100 distinct texts: requests and throughput;
4. peak RSS of a process streaming 1,000,000 messages from a generator through ``send_many``,
   and of raw aiohttp streaming the same messages the same way (the floor of that shape);
5. the cost of event hooks (`smsgate.events`): the single and bulk runs above with and
   without a hook that does nothing (``--only hooks`` runs this part alone);
6. the cost of a suppression list and of quiet hours in ``send_all`` (``--only policies``).

The server runs in a process of its own on 127.0.0.1. Rounds alternate between the clients;
the table gives the ratio of the best round of each, and the median of the ratios of rounds
run one after the other, because this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import multiprocessing
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.server import running
from smsgate import Message, events, send_all, send_many
from smsgate.providers.base import USER_AGENT
from smsgate.providers.smsscheduler import SmsSchedulerGateway
from smsgate.providers.smsworks import SmsWorksGateway
from smsgate.quiet import Window
from smsgate.suppression import SqliteSuppressionList

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


async def single_raw(
    base: str, rows: list[tuple[str, str, str]], concurrency: int, *, keyed: bool = False
) -> float:
    """A dict built and encoded per request (``json=``), its answer decoded: what any
    client does. With ``keyed``, with the idempotency key as smsgate writes it."""
    url = base + "/v1/message/send"
    async with aiohttp.ClientSession() as session:

        async def call(i: int) -> Any:
            to, text, key = rows[i]
            body: dict[str, Any] = {"sender": "Acme", "destination": to[1:], "content": text}
            if keyed:
                body["metadata"] = [{"key": "smsgate_key", "value": key}]
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


async def bulk_raw(
    base: str, rows: list[tuple[str, str, str]], concurrency: int, *, keyed: bool = False
) -> float:
    """``/batch/any`` in chunks of 5,000: one dict built per message and the chunk encoded
    (``json=``) inside the timed region, as any client does. With ``keyed``, each message
    carries its idempotency key as smsgate writes it (the same bytes as smsgate posts)."""
    url = base + "/v1/batch/any"
    starts = range(0, len(rows), 5000)
    async with aiohttp.ClientSession() as session:

        async def call(i: int) -> Any:
            part = rows[starts[i] : starts[i] + 5000]
            if keyed:
                chunk = [
                    {
                        "sender": "Acme",
                        "destination": to[1:],
                        "content": text,
                        "metadata": [{"key": "smsgate_key", "value": key}],
                    }
                    for to, text, key in part
                ]
            else:
                chunk = [
                    {"sender": "Acme", "destination": to[1:], "content": text}
                    for to, text, _ in part
                ]
            async with session.post(url, json=chunk, headers=HEADERS) as answer:
                return json.loads(await answer.read())

        return len(rows) / await drive(len(starts), concurrency, call)


async def bulk_smsgate(
    base: str, items: list[Any], concurrency: int, *, keys: bool = True, **options: Any
) -> float:
    """``send_all`` of pre-built `Message` objects (or dict rows); with ``keys=False``,
    without idempotency keys: the same bytes as the raw client posts. ``options`` go to
    ``send_all`` (a suppression list, a window): every input is counted, sent or not."""
    async with SmsWorksGateway(
        token=TOKEN, sender="Acme", base_url=base + "/v1", idempotency_keys=keys
    ) as gateway:
        started = time.perf_counter()
        summary = await send_all(gateway, items, concurrency=concurrency, **options)
        elapsed = time.perf_counter() - started
    assert summary.accepted + summary.suppressed == len(items), summary
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


def stream_a_million(base: str, count: int, *, raw: bool = False) -> None:
    """Run in a child process: stream ``count`` messages, print the peak RSS in MB.

    With ``raw``, raw aiohttp streams the same messages the same way: chunks of 5,000, 8 in
    flight, each chunk's messages kept until its answer (to report on each), each carrying
    its idempotency key as smsgate writes it, only the encoded body kept during its request.
    That is the floor of this shape: what a careful client holds."""

    def rows() -> Iterator[Message]:
        for i in range(count):
            yield Message(number(i), f"Your code is {i:06d}")

    async def ours() -> int:
        accepted = 0
        async with SmsWorksGateway(token=TOKEN, sender="Acme", base_url=base + "/v1") as g:
            async for outcome in send_many(g, rows(), concurrency=8):
                accepted += outcome.receipt is not None
        return accepted

    async def theirs() -> int:
        accepted = 0
        free = asyncio.Semaphore(8)
        url = base + "/v1/batch/any"
        async with aiohttp.ClientSession() as session:

            async def post(chunk: list[Message]) -> None:
                nonlocal accepted
                try:
                    # Encoded at once, its dicts dropped: only the bytes wait for the answer.
                    body = json.dumps(
                        [
                            {
                                "sender": "Acme",
                                "destination": m.to[1:],
                                "content": m.text,
                                "metadata": [{"key": "smsgate_key", "value": m.key}],
                            }
                            for m in chunk
                        ]
                    ).encode()
                    async with session.post(url, data=body, headers=HEADERS) as answer:
                        json.loads(await answer.read())
                    accepted += len(chunk)
                finally:
                    free.release()

            tasks: set[asyncio.Task[None]] = set()
            chunk: list[Message] = []
            for message in rows():
                chunk.append(message)
                if len(chunk) == 5000:
                    await free.acquire()
                    task = asyncio.create_task(post(chunk))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    chunk = []
            if chunk:
                await free.acquire()
                await post(chunk)
            await asyncio.gather(*tasks)
        return accepted

    before = peak_rss_mb()
    started = time.perf_counter()
    accepted = asyncio.run(theirs() if raw else ours())
    peak = peak_rss_mb()
    elapsed = time.perf_counter() - started
    print(json.dumps({"before": before, "peak": peak, "accepted": accepted, "seconds": elapsed}))


# --- running -------------------------------------------------------------------------------


# --- 5. the cost of hooks ------------------------------------------------------------------


def hooked(run: Callable[[], float]) -> Callable[[], float]:
    """``run`` with a hook installed that does nothing (every event is still made)."""

    def with_hook() -> float:
        remove = events.add_hook(lambda event: None)
        try:
            return run()
        finally:
            remove()

    return with_hook


def hook_costs(base: str, rounds: int, singles: int, bulk: int) -> list[Row]:
    strings = [(number(i), f"Your code is {i:06d}") for i in range(singles)]
    single = lambda: asyncio.run(single_smsgate(base, strings, 50))  # noqa: E731
    strings = [(number(i), f"Your code is {i:06d}") for i in range(bulk)]
    messages = [Message(to, text) for to, text in strings]
    prebuilt = lambda: asyncio.run(bulk_smsgate(base, messages, 8))  # noqa: E731
    built = lambda: asyncio.run(bulk_from_strings(base, strings, 8))  # noqa: E731
    rows = []
    for label, count, unit, run in (
        ("`gateway.send`, concurrency 50", singles, "req/s", single),
        ("`send_all`, `Message` objects built before", bulk, "msg/s", prebuilt),
        ("`send_many` from strings, every outcome read", bulk, "msg/s", built),
    ):
        without, with_hook = best(rounds, run, hooked(run))
        rows.append(Row(label, count, without, with_hook, unit))
        print(f"hooks, {label}: without {without}, with {with_hook}")
    return rows


def policy_costs(base: str, rounds: int, bulk: int) -> list[Row]:
    """``send_all`` of pre-built messages with a suppression list (SQLite, 100,000 numbers,
    1% of the recipients on it) and with quiet hours (a window open now everywhere in the
    recipients' zone), against neither."""
    messages = [Message(number(i), f"Your code is {i:06d}") for i in range(bulk)]
    folder = Path(tempfile.mkdtemp())
    listed = folder / "optouts.sqlite"

    async def fill() -> None:
        async with SqliteSuppressionList(listed) as suppression:
            for i in range(100_000):
                # every hundredth recipient of the run, and numbers the run never sends to
                await suppression.add(number(i) if i % 100 == 0 else f"+447800{i:06d}")

    asyncio.run(fill())

    async def suppressed() -> float:
        async with SqliteSuppressionList(listed) as suppression:
            return await bulk_smsgate(base, messages, 8, suppression=suppression)

    now = datetime.now(ZoneInfo("Europe/London"))
    window = (
        Window(dt.time(0, 0), dt.time(23, 59)) if now.hour < 23 else Window(dt.time(1), dt.time(0))
    )
    plain = lambda: asyncio.run(bulk_smsgate(base, messages, 8))  # noqa: E731
    rows = []
    for label, run in (
        ("`send_all` with a SQLite suppression list of 100,000", lambda: asyncio.run(suppressed())),
        (
            "`send_all` with quiet hours (`window=`)",
            lambda: asyncio.run(bulk_smsgate(base, messages, 8, window=window)),
        ),
    ):
        without, with_policy = best(rounds, plain, run)
        rows.append(Row(label, bulk, without, with_policy, "msg/s"))
        print(f"policies, {label}: without {without}, with {with_policy}")
    shutil.rmtree(folder)
    return rows


def best(rounds: int, *runs: Callable[[], float]) -> list[list[float]]:
    """Alternate the runs ``rounds`` times, after one round not counted (which warms the
    server and the caches up for whichever run comes first); every result of each."""
    for run in runs:
        run()
    results: list[list[float]] = [[] for _ in runs]
    for _ in range(rounds):
        for i, run in enumerate(runs):
            results[i].append(run())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="smsgate against raw aiohttp on loopback")
    parser.add_argument("--quick", action="store_true", help="smaller numbers")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", choices=["hooks", "policies"], help="run one part alone")
    parser.add_argument("--child-rss", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=1_000_000, help=argparse.SUPPRESS)
    parser.add_argument("--raw", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_rss:
        stream_a_million(args.child_rss, args.count, raw=args.raw)
        return

    singles, bulk, million = (1000, 20_000, 100_000) if args.quick else (5000, 100_000, 1_000_000)
    if args.only == "hooks":
        with running() as base:
            hook_rows = hook_costs(base, args.rounds, singles, bulk)
        policy_rows = policy_costs(base, args.rounds, bulk)
        print_hooks(args.rounds, hook_rows)
        return
    if args.only == "policies":
        with running() as base:
            policy_rows = policy_costs(base, args.rounds, bulk)
        print_hooks(args.rounds, policy_rows, title="opt-outs and quiet hours")
        return
    rows: list[Row] = []
    with running() as base:
        strings = [(number(i), f"Your code is {i:06d}") for i in range(singles)]
        messages = [Message(to, text) for to, text in strings]
        keyed = [(m.to, m.text, m.key) for m in messages]
        raw, ours, prebuilt, raw_keyed = best(
            args.rounds,
            lambda: asyncio.run(single_raw(base, keyed, 50)),
            lambda: asyncio.run(single_smsgate(base, strings, 50)),
            lambda: asyncio.run(single_prebuilt(base, messages, 50)),
            lambda: asyncio.run(single_raw(base, keyed, 50, keyed=True)),
        )
        label = "`gateway.send`, concurrency 50, `Message` built in the loop"
        rows.append(Row(label, singles, raw, ours, "req/s"))
        label = "`gateway.send`, concurrency 50, `Message` objects built before"
        rows.append(Row(label, singles, raw, prebuilt, "req/s"))
        label = "`gateway.send`, `Message` built in the loop, same bytes (raw writes the keys)"
        rows.append(Row(label, singles, raw_keyed, ours, "req/s"))
        print(f"single: raw {raw}, smsgate {ours}, pre-built {prebuilt}, raw keyed {raw_keyed}")

        strings = [(number(i), f"Your code is {i:06d}") for i in range(bulk)]
        messages = [Message(to, text) for to, text in strings]
        keyed = [(m.to, m.text, m.key) for m in messages]
        raw, ours, built, raw_keyed, unkeyed = best(
            args.rounds,
            lambda: asyncio.run(bulk_raw(base, keyed, 8)),
            lambda: asyncio.run(bulk_smsgate(base, messages, 8)),
            lambda: asyncio.run(bulk_from_strings(base, strings, 8)),
            lambda: asyncio.run(bulk_raw(base, keyed, 8, keyed=True)),
            lambda: asyncio.run(bulk_smsgate(base, messages, 8, keys=False)),
        )
        label = "`send_all`, `/batch/any`, `Message` objects built before"
        rows.append(Row(label, bulk, raw, ours, "msg/s"))
        label = "`send_many`, `/batch/any`, each `Message` built from strings as it is read"
        rows.append(Row(label, bulk, raw, built, "msg/s"))
        label = "`send_all`, same bytes (raw writes smsgate's idempotency keys)"
        rows.append(Row(label, bulk, raw_keyed, ours, "msg/s"))
        label = "`send_all`, same bytes (smsgate with `idempotency_keys=False`)"
        rows.append(Row(label, bulk, raw, unkeyed, "msg/s"))
        label = "`send_many` from strings, same bytes (raw writes the keys)"
        rows.append(Row(label, bulk, raw_keyed, built, "msg/s"))
        print(f"bulk: raw {raw}, smsgate {ours}, from strings {built}")
        print(f"same bytes: raw keyed {raw_keyed}, smsgate without keys {unkeyed}")

        requests, rate = asyncio.run(grouping(base, bulk, 100, 8))
        print(f"grouping: {requests} requests, {rate:.0f} msg/s")

        streams = {}
        for who in ("raw", "smsgate"):
            child = subprocess.run(
                [sys.executable, __file__, "--child-rss", base, "--count", str(million)]
                + (["--raw"] if who == "raw" else []),
                capture_output=True,
                text=True,
                check=True,
            )
            streams[who] = json.loads(child.stdout)
            print(f"rss, {who}: {streams[who]}")

        hook_rows = hook_costs(base, args.rounds, singles, bulk)
        policy_rows = policy_costs(base, args.rounds, bulk)

    print()
    print(
        f"{date.today()}, {platform.machine()}, {multiprocessing.cpu_count()} cores, "
        f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
        f"best of {args.rounds} interleaved rounds"
    )
    print()
    print("| benchmark | messages | raw aiohttp | smsgate | ratio of bests | median ratio |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(row.markdown())
    print(
        f"| SMS Scheduler grouping, 100 texts | {bulk:,} | — | {rate:,.0f} msg/s in "
        f"{requests:,} requests | — | — |"
    )
    raw_rss, ours_rss = streams["raw"], streams["smsgate"]
    print(
        f"| streaming from a generator, concurrency 8, peak RSS | {million:,} | "
        f"{raw_rss['peak']:.0f} MB, {raw_rss['accepted'] / raw_rss['seconds']:,.0f} msg/s | "
        f"{ours_rss['peak']:.0f} MB, {ours_rss['accepted'] / ours_rss['seconds']:,.0f} msg/s | "
        f"{ours_rss['peak'] / raw_rss['peak']:.2f} (memory) | "
        f"{ours_rss['before']:.0f} MB after imports |"
    )
    print_hooks(args.rounds, hook_rows)
    print_hooks(args.rounds, policy_rows, title="opt-outs and quiet hours")


def print_hooks(rounds: int, rows: list[Row], title: str = "a hook that does nothing") -> None:
    print()
    print(f"The cost of {title} (best of {rounds} interleaved rounds):")
    print()
    print("| benchmark | messages | without | with | ratio of bests | median ratio |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(row.markdown())


@dataclasses.dataclass
class Row:
    """One line of the table: every round's rate of each client."""

    label: str
    count: int
    raw: list[float]
    ours: list[float]
    unit: str

    def markdown(self) -> str:
        # The rounds ran in pairs, one after the other: the median of the pairs' ratios is
        # steadier than the ratio of the best rounds when the machine's speed drifts.
        paired = statistics.median(o / r for o, r in zip(self.ours, self.raw, strict=True))
        raw, ours = max(self.raw), max(self.ours)
        return (
            f"| {self.label} | {self.count:,} | {raw:,.0f} {self.unit} | "
            f"{ours:,.0f} {self.unit} | {ours / raw:.2f} | {paired:.2f} |"
        )


if __name__ == "__main__":
    main()
