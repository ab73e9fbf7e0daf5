"""What the webhook receiver costs over a bare aiohttp handler, on the same loopback server.

    python benchmarks/bench_webhooks.py [--requests 5000] [--concurrency 50]

One server process on 127.0.0.1 serves both: ``POST /raw`` reads the body, decodes the JSON
and answers 200 (the least a handler can do); ``POST /sms/{secret}`` is a `WebhookReceiver`
with a callback that counts. The same client posts distinct delivery reports to each, in
alternating rounds; the ratio is the receiver's rate over the bare handler's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import platform
import sys
from multiprocessing.connection import Connection
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_bulk import best, drive
from smsgate.model import StatusReport
from smsgate.webhooks import WebhookReceiver

SECRET = "bench-secret-bench-secret"
REPORT = {
    "messageid": "0",
    "status": "DELIVERED",
    "destination": 447700900123,
    "modified": "2026-11-22T10:00:05.000Z",
    "sender": "Acme",
    "content": "Your code is 2468",
}


def serve(port_out: Connection) -> None:
    async def raw(request: web.Request) -> web.Response:
        json.loads(await request.read())
        return web.Response(text="taken")

    async def counted(_: StatusReport) -> None:
        pass

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/raw", raw)
        receiver = WebhookReceiver("smsworks", secret=SECRET, on_report=counted, remember=1_000_000)
        receiver.add_routes(app, "/sms")
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        port_out.send(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


async def post_all(url: str, first_id: int, requests: int, concurrency: int) -> float:
    bodies = [
        json.dumps({**REPORT, "messageid": str(first_id + i)}).encode() for i in range(requests)
    ]
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:

        async def call(i: int) -> None:
            async with session.post(url, data=bodies[i], headers=headers) as answer:
                assert answer.status == 200, answer.status
                await answer.read()

        return requests / await drive(requests, concurrency, call)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    receive, send = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.get_context("spawn").Process(target=serve, args=(send,), daemon=True)
    process.start()
    base = f"http://127.0.0.1:{receive.recv()}"
    rounds = iter(range(args.rounds * 2))
    try:
        raw, ours = best(
            args.rounds,
            lambda: asyncio.run(post_all(base + "/raw", 0, args.requests, args.concurrency)),
            lambda: asyncio.run(
                post_all(
                    f"{base}/sms/{SECRET}",
                    next(rounds) * args.requests,  # new ids each round: no repeats
                    args.requests,
                    args.concurrency,
                )
            ),
        )
    finally:
        process.terminate()
        process.join(5)
    print(
        f"machine: {platform.machine()}, {multiprocessing.cpu_count()} cores, "
        f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}"
    )
    print(
        f"{args.requests} delivery reports x {args.rounds} rounds, concurrency {args.concurrency}"
    )
    for label, results in {"bare aiohttp handler": raw, "WebhookReceiver": ours}.items():
        each = ", ".join(f"{r:.0f}" for r in results)
        print(f"{label:<22} {max(results):8.0f} req/s (rounds: {each})")
    print(f"{'ratio':<22} {max(ours) / max(raw):8.2f}")


if __name__ == "__main__":
    main()
