"""A minimal stand-in for the providers' send endpoints, on 127.0.0.1.

It answers as The SMS Works (``/v1/message/send``, ``/v1/batch/any``, ``/v1/batch/send``)
and SMS Scheduler (``/api/v1/sms``) do, and counts what it receives: requests, messages,
requests in flight at once, and any destination it was sent twice. Benchmarks run it in a
process of its own; tests run it in theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import multiprocessing
from collections import Counter
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection

from aiohttp import web

SEND_ANSWER = b'{"messageid":"1","status":"SENT","credits":100,"creditsUsed":1,"messageparts":1}'
BATCH_ANSWER = b'{"batchid":"1","status":"SENT"}'


class Counts:
    """What the server has received."""

    def __init__(self, track_destinations: bool) -> None:
        self.requests: Counter[str] = Counter()
        self.messages: Counter[str] = Counter()
        self.in_flight = 0
        self.most_in_flight = 0
        self.track = track_destinations
        self.destinations: Counter[str] = Counter()

    def add(self, path: str, destinations: list[str]) -> None:
        self.requests[path] += 1
        self.messages[path] += len(destinations)
        if self.track:
            self.destinations.update(destinations)

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.destinations.values() if n > 1)


COUNTS = web.AppKey("counts", Counts)


def make_app(*, track_destinations: bool = True, delay: float = 0.0) -> web.Application:
    """The application; its counts are at ``app[COUNTS]``."""
    counts = Counts(track_destinations)
    sms_ids = itertools.count(1)

    async def count(request: web.Request) -> web.Response:
        counts.in_flight += 1
        counts.most_in_flight = max(counts.most_in_flight, counts.in_flight)
        try:
            if delay:
                await asyncio.sleep(delay)
            return await answer(request)
        finally:
            counts.in_flight -= 1

    async def answer(request: web.Request) -> web.Response:
        body = await request.read()
        path = request.path
        if path == "/v1/message/send":
            counts.add(path, [json.loads(body)["destination"]])
            return _json(SEND_ANSWER, 201)
        if path == "/v1/batch/any":
            items = json.loads(body)
            counts.add(path, [item["destination"] for item in items])
            return _json(BATCH_ANSWER, 201)
        if path == "/v1/batch/send":
            counts.add(path, json.loads(body)["destinations"])
            return _json(BATCH_ANSWER, 201)
        if path == "/api/v1/sms":
            numbers = json.loads(body)["phone_numbers"]
            counts.add(path, numbers)
            ids = {number: [next(sms_ids)] for number in numbers}
            return web.json_response({"message_id": next(sms_ids), "sms_ids": ids})
        raise web.HTTPNotFound()

    app = web.Application(client_max_size=64 * 1024**2)
    app[COUNTS] = counts
    app.router.add_post("/{tail:.*}", count)
    return app


def _json(body: bytes, status: int) -> web.Response:
    return web.Response(status=status, body=body, content_type="application/json")


def serve(port_out: Connection, make: Callable[[], web.Application] = make_app) -> None:
    """Run the application ``make`` builds until killed; send its port through ``port_out``."""

    async def main() -> None:
        runner = web.AppRunner(make(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        port_out.send(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


@contextlib.contextmanager
def running(make: Callable[[], web.Application] = make_app) -> Iterator[str]:
    """Serve ``make()`` (a module-level function) in a process of its own for the block;
    yields its base URL."""
    receive, send = multiprocessing.Pipe(duplex=False)
    context = multiprocessing.get_context("spawn")
    process = context.Process(target=serve, args=(send, make), daemon=True)
    process.start()
    try:
        yield f"http://127.0.0.1:{receive.recv()}"
    finally:
        process.terminate()
        process.join(5)
