"""What the HTTP base costs over raw aiohttp: the same POSTs to the same loopback server.

    python benchmarks/bench_http_base.py [--requests 5000] [--concurrency 50]

The server runs in its own process on 127.0.0.1 and answers every POST with a small JSON
body. Both clients send the same JSON body with the same headers, read and decode the
answer, with the same concurrency; runs alternate and the best of each is kept, so the ratio
(smsgate throughput / raw aiohttp throughput) is fair on a noisy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import platform
import sys
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_bulk import HEADERS, TOKEN, best, drive
from benchmarks.server import running
from smsgate.providers.base import HttpGateway, Secret

BODY = {"sender": "Acme", "destination": "447700900123", "content": "Your code is 2468"}


class BenchGateway(HttpGateway):
    name = "bench"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._token = Secret(TOKEN)

    async def auth_headers(self) -> dict[str, str]:
        return {"Authorization": self._token.reveal()}

    def secrets(self) -> tuple[str]:
        return (self._token.reveal(),)


async def raw_aiohttp(base: str, requests: int, concurrency: int) -> float:
    url = base + "/v1/message/send"
    async with aiohttp.ClientSession() as session:

        async def call(_: int) -> Any:
            data = json.dumps(BODY, separators=(",", ":")).encode()
            async with session.post(url, data=data, headers=HEADERS) as answer:
                return json.loads(await answer.read())

        return requests / await drive(requests, concurrency, call)


async def through_smsgate(base: str, requests: int, concurrency: int) -> float:
    async with BenchGateway(base_url=base + "/v1") as gateway:

        async def call(_: int) -> Any:
            return await gateway.request_json("POST", "/message/send", json_body=BODY)

        return requests / await drive(requests, concurrency, call)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with running() as base:
        raw, ours = best(
            args.rounds,
            lambda: asyncio.run(raw_aiohttp(base, args.requests, args.concurrency)),
            lambda: asyncio.run(through_smsgate(base, args.requests, args.concurrency)),
        )
    print(
        f"machine: {platform.machine()}, {multiprocessing.cpu_count()} cores, "
        f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}"
    )
    print(f"{args.requests} POSTs x {args.rounds} rounds, concurrency {args.concurrency}")
    for label, results in {"raw aiohttp": raw, "smsgate HttpGateway": ours}.items():
        each = ", ".join(f"{r:.0f}" for r in results)
        print(f"{label:<20} {max(results):8.0f} req/s (rounds: {each})")
    print(f"{'ratio':<20} {max(ours) / max(raw):8.2f}")


if __name__ == "__main__":
    main()
