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
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
from aiohttp import web

from smsgate.providers.base import USER_AGENT, HttpGateway, Secret

TOKEN = "JWT bench-token"
BODY = {"sender": "Acme", "destination": "447700900123", "content": "Your code is 2468"}
ANSWER = b'{"messageid":"1","status":"SENT","credits":100,"creditsUsed":1}'


def serve(port_out: Connection) -> None:
    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=201, body=ANSWER, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/message/send", answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_out.send(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.sleep(3600)

    asyncio.run(main())


class BenchGateway(HttpGateway):
    name = "bench"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._token = Secret(TOKEN)

    async def auth_headers(self) -> dict[str, str]:
        return {"Authorization": self._token.reveal()}

    def secrets(self) -> tuple[str]:
        return (self._token.reveal(),)


async def drive(requests: int, concurrency: int, call: Callable[[], Awaitable[Any]]) -> float:
    """Requests per second for ``requests`` calls, ``concurrency`` at a time."""
    remaining = iter(range(requests))

    async def worker() -> None:
        for _ in remaining:
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return requests / (time.perf_counter() - started)


async def raw_aiohttp(url: str, requests: int, concurrency: int) -> float:
    headers = {
        "User-Agent": USER_AGENT,
        "Accept": "application/json",
        "Content-Type": "application/json",
        "Authorization": TOKEN,
    }
    async with aiohttp.ClientSession() as session:

        async def call() -> Any:
            data = json.dumps(BODY, separators=(",", ":")).encode()
            async with session.post(url, data=data, headers=headers) as answer:
                return json.loads(await answer.read())

        return await drive(requests, concurrency, call)


async def through_smsgate(base_url: str, requests: int, concurrency: int) -> float:
    async with BenchGateway(base_url=base_url) as gateway:

        async def call() -> Any:
            return await gateway.request_json("POST", "/message/send", json_body=BODY)

        return await drive(requests, concurrency, call)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    receive, send = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(send,), daemon=True)
    server.start()
    try:
        port = receive.recv()
        base_url = f"http://127.0.0.1:{port}/v1"
        raw, ours = [], []
        for _ in range(args.rounds):
            raw.append(
                asyncio.run(
                    raw_aiohttp(base_url + "/message/send", args.requests, args.concurrency)
                )
            )
            ours.append(asyncio.run(through_smsgate(base_url, args.requests, args.concurrency)))
    finally:
        server.terminate()
        server.join(5)
    rounds = {"raw aiohttp": raw, "smsgate HttpGateway": ours}
    print(
        f"machine: {platform.machine()}, {multiprocessing.cpu_count()} cores, "
        f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}"
    )
    print(f"{args.requests} POSTs x {args.rounds} rounds, concurrency {args.concurrency}")
    for label, results in rounds.items():
        each = ", ".join(f"{r:.0f}" for r in results)
        print(f"{label:<20} {max(results):8.0f} req/s (rounds: {each})")
    print(f"{'ratio':<20} {max(ours) / max(raw):8.2f}")


if __name__ == "__main__":
    main()
