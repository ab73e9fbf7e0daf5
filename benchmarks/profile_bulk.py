"""Where smsgate's time goes per message, with the network stubbed out.

    python benchmarks/profile_bulk.py                 # the cost table
    python benchmarks/profile_bulk.py --profile bulk  # cProfile of one shape, top functions

The gateway is The SMS Works' with its HTTP exchange replaced by a canned answer: everything
smsgate does up to the bytes it would send (checks, payload, JSON, headers, retries, rate
limits, announcing) and after the answer it would read (parsing, receipts, outcomes, the
summary) is measured; aiohttp and the server are not. Shapes:

- ``single``: ``gateway.send`` of a `Message` built from strings, one after another;
- ``bulk``: ``send_all`` of pre-built `Message` objects through ``/batch/any``;
- ``strings``: ``send_many`` of `Message` objects built from strings as they are read;
- ``build``: building the `Message` objects alone.

Each figure is the best of a few rounds, in µs per message, with the share of it that went
to garbage collection (``gc.callbacks``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.server import BATCH_ANSWER, SEND_ANSWER
from smsgate import Message, send_all, send_many
from smsgate.providers.smsworks import SmsWorksGateway

HEADERS = {"Content-Type": "application/json;charset=UTF-8"}


class _Answer:
    """What ``session.request`` yields: a canned answer, read at once."""

    def __init__(self, body: bytes) -> None:
        self.status, self.headers, self._body = 201, HEADERS, body

    async def __aenter__(self) -> _Answer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def read(self) -> bytes:
        return self._body


class _Session:
    """An `aiohttp.ClientSession` stand-in that answers every request from memory."""

    def request(self, method: str, url: str, **options: Any) -> _Answer:
        return _Answer(BATCH_ANSWER if url.endswith("/batch/any") else SEND_ANSWER)


class Stubbed(SmsWorksGateway):
    """The SMS Works with a canned answer in place of the HTTP exchange: everything of
    smsgate's runs, aiohttp's does not."""

    def _client(self) -> aiohttp.ClientSession:
        return cast(aiohttp.ClientSession, _Session())


def strings(n: int) -> list[tuple[str, str]]:
    return [(f"+44770{i:07d}", f"Your code is {i:06d}") for i in range(n)]


def gateway() -> Stubbed:
    return Stubbed(token="JWT bench-token", sender="Acme", base_url="http://127.0.0.1:9/v1")


async def single(rows: list[tuple[str, str]]) -> None:
    async with gateway() as g:
        for to, text in rows:
            await g.send(Message(to, text))


async def bulk(messages: list[Message]) -> None:
    async with gateway() as g:
        summary = await send_all(g, messages, concurrency=8)
    assert summary.accepted == len(messages)


async def from_strings(rows: list[tuple[str, str]]) -> None:
    async with gateway() as g:
        async for outcome in send_many(g, (Message(to, text) for to, text in rows)):
            assert outcome.receipt is not None


def build(rows: list[tuple[str, str]]) -> None:
    for to, text in rows:
        Message(to, text)


class GcTime:
    """Seconds spent collecting garbage, from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.total = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._started


def timed(run: Callable[[], None], count: int, rounds: int) -> tuple[float, float]:
    """Best µs per message over ``rounds``, and the µs of it spent in garbage collection."""
    best = (float("inf"), 0.0)
    for _ in range(rounds):
        collected = GcTime()
        gc.callbacks.append(collected)
        started = time.perf_counter()
        try:
            run()
        finally:
            gc.callbacks.remove(collected)
        took = (time.perf_counter() - started) / count * 1e6
        best = min(best, (took, collected.total / count * 1e6))
    return best


def shapes(count: int) -> dict[str, Callable[[], None]]:
    rows = strings(count)
    messages = [Message(to, text) for to, text in rows]
    return {
        "single": lambda: asyncio.run(single(rows[: count // 10])),
        "bulk": lambda: asyncio.run(bulk(messages)),
        "strings": lambda: asyncio.run(from_strings(rows)),
        "build": lambda: build(rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="smsgate's cost per message, network stubbed")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", choices=["single", "bulk", "strings", "build"])
    args = parser.parse_args()
    runs = shapes(args.count)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(runs[args.profile])
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return
    print("| shape | µs a message | of which garbage collection |")
    print("|---|---|---|")
    for name, run in runs.items():
        count = args.count // 10 if name == "single" else args.count
        took, collecting = timed(run, count, args.rounds)
        print(f"| {name} | {took:.2f} | {collecting:.2f} |")


if __name__ == "__main__":
    main()
