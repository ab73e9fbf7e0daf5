"""What the webhook receiver costs over a bare aiohttp handler, on the same loopback server.

    python benchmarks/bench_webhooks.py [--requests 5000] [--concurrency 50]

One server process on 127.0.0.1 serves both: ``POST /raw`` reads the body, decodes the JSON
and answers 200 (the least a handler can do); ``POST /sms/{secret}`` is a `WebhookReceiver`
with a callback that counts. The same client posts distinct delivery reports to each, in
alternating rounds; the ratio is the receiver's rate over the bare handler's. Best of
``--rounds`` each: on a small, shared machine run it several times (or with ``--rounds 9``).

Where the time goes. Sockets and the client swamp a profile of the server, so call the
handler directly, in this process, with requests aiohttp makes without a connection; the
extra cost per request is the receiver's (compare a bare ``raw`` in its place)::

    import asyncio, cProfile, json, pstats
    from aiohttp import streams
    from aiohttp.test_utils import make_mocked_request
    from benchmarks.bench_webhooks import REPORT, SECRET, counted
    from smsgate.webhooks import WebhookReceiver

    class Connection:  # what a body's stream asks of its connection
        _reading_paused = False
        def pause_reading(self, **_): pass
        def resume_reading(self, **_): pass

    def request(i):
        body = streams.StreamReader(Connection(), 2**16, loop=asyncio.get_running_loop())
        body.feed_data(json.dumps({**REPORT, "messageid": str(i)}).encode())
        body.feed_eof()
        return make_mocked_request("POST", f"/sms/{SECRET}", match_info={"secret": SECRET},
                                   headers={"Content-Type": "application/json"}, payload=body)

    async def main(n=20_000):
        receiver = WebhookReceiver("smsworks", secret=SECRET, on_report=counted, remember=n)
        requests = [request(i) for i in range(n)]
        with cProfile.Profile() as profile:
            for each in requests:
                await receiver.handle(each)
                await asyncio.sleep(0)  # the callback runs, as it would between requests
            await receiver.aclose()
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)

    asyncio.run(main())

cProfile inflates small calls; time a suspect alone to be sure, e.g. the parser::

    python -m timeit -s "from benchmarks.bench_webhooks import REPORT" \
        -s "from smsgate.providers.smsworks import parse_webhook" "parse_webhook(REPORT)"

The same report's destination is read once and remembered (`smsgate.numbers.read_number`):
a report to a number not read lately costs some 15 µs more.
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
