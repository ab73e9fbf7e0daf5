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
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_bulk import best, drive
from benchmarks.server import running
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


async def counted(_: StatusReport) -> None:
    pass


async def raw(request: web.Request) -> web.Response:
    json.loads(await request.read())
    return web.Response(text="taken")


def make_app() -> web.Application:
    """A bare handler at ``/raw`` and a receiver at ``/sms``, on one application."""
    app = web.Application()
    app.router.add_post("/raw", raw)
    receiver = WebhookReceiver("smsworks", secret=SECRET, on_report=counted, remember=1_000_000)
    receiver.add_routes(app, "/sms")
    return app


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

    rounds = iter(range(args.rounds * 2))
    with running(make_app) as base:
        raw_rates, ours = best(
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
    print(
        f"machine: {platform.machine()}, {multiprocessing.cpu_count()} cores, "
        f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}"
    )
    print(
        f"{args.requests} delivery reports x {args.rounds} rounds, concurrency {args.concurrency}"
    )
    for label, results in {"bare aiohttp handler": raw_rates, "WebhookReceiver": ours}.items():
        each = ", ".join(f"{r:.0f}" for r in results)
        print(f"{label:<22} {max(results):8.0f} req/s (rounds: {each})")
    print(f"{'ratio':<22} {max(ours) / max(raw_rates):8.2f}")


if __name__ == "__main__":
    main()
