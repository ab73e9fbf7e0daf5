"""The sandbox at test speed: its delays, raw requests to it, and one served from a thread."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypedDict

import aiohttp
from aiohttp import web

from smsgate.sandbox import Sandbox

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Delays(TypedDict):
    """How long the sandbox takes to send and to deliver, in seconds."""

    send_delay: float
    deliver_delay: float


FAST: Delays = {"send_delay": 0.02, "deliver_delay": 0.02}
"""Delays short enough for a test to see messages sent and delivered."""

TOKENS = {"smsworks": "JWT sandbox-token", "smsscheduler": "Bearer sandbox-token"}
"""An Authorization header each provider's side of the sandbox takes."""


async def raw(
    sandbox: Sandbox,
    method: str,
    path: str,
    *,
    provider: str = "smsworks",
    auth: str | None = None,
    **kwargs: Any,
) -> tuple[int, Any]:
    """A request straight to the sandbox; returns (status, JSON or text)."""
    headers = {"Authorization": TOKENS[provider] if auth is None else auth}
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, sandbox.base_url(provider) + path, headers=headers, **kwargs
        ) as answer,
    ):
        if answer.content_type == "application/json":
            return answer.status, await answer.json()
        return answer.status, await answer.text()


class Traffic:
    """How many requests a sandbox is handling, and when that last changed."""

    def __init__(self) -> None:
        self.active = 0
        self.changed = time.monotonic()

    @web.middleware
    async def count(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.active, self.changed = self.active + 1, time.monotonic()
        try:
            return await handler(request)
        finally:
            self.active, self.changed = self.active - 1, time.monotonic()


class CountingSandbox(Sandbox):
    """A `Sandbox` that counts the requests it is handling (its `traffic`), for `settle`."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.traffic = Traffic()

    def app(self) -> web.Application:
        served = super().app()
        served.middlewares.append(self.traffic.count)
        return served


def settle(sandbox: Sandbox, quiet: float = 0.2, timeout: float = 30) -> None:
    """Wait until ``sandbox`` (served by `ThreadedSandbox`) handles no request and has taken
    none for ``quiet`` seconds: whatever a client that has gone away left in flight has then
    been stored, or refused, and answered."""
    assert isinstance(sandbox, CountingSandbox)
    deadline = time.monotonic() + timeout
    while sandbox.traffic.active or time.monotonic() - sandbox.traffic.changed < quiet:
        assert time.monotonic() < deadline, "the sandbox did not settle"
        time.sleep(0.01)


class ThreadedSandbox:
    """A `Sandbox` served from a thread of its own, for tests whose code under test runs its
    own event loop (the command line) or its own process; `settle` waits until it has
    handled what was sent to it."""

    def __init__(self, **options: Any) -> None:
        self.box = CountingSandbox(**options)
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Sandbox:
        started = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self.box.start())
            started.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self.box.stop())
            self._loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        assert started.wait(10)
        return self.box

    def __exit__(self, *exc_info: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(10)


@contextlib.contextmanager
def sandbox_command(*pythonpath: str) -> Iterator[tuple[str, list[str]]]:
    """Run ``smsgate sandbox`` in its own process with ``pythonpath``; yield its address and
    the lines after the first, up to its ``credits:`` line, then stop it with SIGINT and check
    it ended cleanly."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(pythonpath)}
    command = [sys.executable, "-m", "smsgate", "sandbox", "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environment) as process:
        try:
            assert process.stdout is not None
            started = re.match(r"sandbox on (http://127\.0\.0\.1:\d+) ", process.stdout.readline())
            assert started is not None
            lines = [process.stdout.readline()]
            while not lines[-1].startswith("credits:"):
                assert lines[-1], "the sandbox ended before it said how to use it"
                lines.append(process.stdout.readline())
            yield started[1], lines
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=10) == 0
        finally:
            process.kill()
