"""Loopback servers for tests that need a real network peer. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import socket
import struct
import threading
import traceback
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, Self

import aioresponses.core
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

import smsgate.providers.base
import smsgate.retry
from smsgate.model import InboundMessage, StatusReport
from smsgate.webhooks import WebhookReceiver

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(autouse=True)
def no_retries() -> Iterator[None]:
    """Tests see each request fail once, as users' tests do with set_testing; the retry
    tests turn retrying back on with the ``retrying`` fixture."""
    smsgate.retry.set_testing(True)
    yield
    smsgate.retry.set_testing(False)


class Sleeps(list[float]):
    """An instant sleep that records how long it was asked to wait."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def retrying(monkeypatch: pytest.MonkeyPatch) -> Sleeps:
    """Turn retrying on, with an instant sleep; returns the waits asked for."""
    smsgate.retry.set_testing(False)
    sleeps = Sleeps()
    monkeypatch.setattr(smsgate.providers.base, "_retry_sleep", sleeps)
    return sleeps


@pytest.fixture
async def web_server() -> AsyncIterator[Callable[[web.Application], Awaitable[TestServer]]]:
    """Start aiohttp applications on 127.0.0.1; all are closed after the test."""
    servers: list[TestServer] = []

    async def start(app: web.Application) -> TestServer:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


class RawServer:
    """A TCP server on 127.0.0.1 that misbehaves as told, and counts connections."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.connections = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.behaviour(reader, writer)
        finally:
            writer.close()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """Read one HTTP request with a Content-Length body."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset instead of a clean FIN."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def reachable(root: object, depth: int = 8) -> Iterator[str]:
    """The text of everything reachable from ``root``: reprs and strs, attributes (also
    in slots), items of containers, and for an exception its args, chained cause and
    context, and its formatted traceback."""
    seen: set[int] = set()

    def walk(item: object, left: int) -> Iterator[str]:
        if id(item) in seen or left < 0:
            return
        seen.add(id(item))
        try:
            yield repr(item)
            yield str(item)
        except Exception:  # a broken repr hides nothing
            pass
        if isinstance(item, str | bytes | int | float | bool | type(None)):
            return
        if isinstance(item, BaseException):
            yield "".join(traceback.format_exception(item))
            for linked in (item.__cause__, item.__context__, *item.args):
                yield from walk(linked, left - 1)
        if isinstance(item, dict) or hasattr(item, "items"):
            with contextlib.suppress(Exception):
                for key, value in list(item.items()):  # type: ignore[attr-defined]
                    yield from walk(key, left - 1)
                    yield from walk(value, left - 1)
        if isinstance(item, list | tuple | set | frozenset):
            for value in item:
                yield from walk(value, left - 1)
        for name in getattr(type(item), "__slots__", ()):
            with contextlib.suppress(Exception):
                yield from walk(getattr(item, name), left - 1)
        with contextlib.suppress(TypeError):
            for value in vars(item).values():
                yield from walk(value, left - 1)

    yield from walk(root, depth)


def leaks(fragment: str, error: BaseException, gateway: object, log: str) -> list[str]:
    """Where ``fragment`` of a secret shows: anything reachable from the error (its text,
    repr, args, attributes, body, chained cause and context, traceback), the gateway's repr
    and attributes, or the log."""
    places = {
        "the error": "\n".join(reachable(error)),
        "error.body": json.dumps(getattr(error, "body", None)),
        "repr(gateway)": repr(gateway),
        "vars(gateway)": repr(vars(gateway)),
        "log": log,
    }
    return [place for place, text in places.items() if fragment in text]


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class _RequestAlreadySent:
    """What aiohttp reads from the writer of a request that has been sent in full."""

    output_size = 0


class _CompatClientResponse(ClientResponse):
    """aiohttp 3.14 added a required ``stream_writer`` argument that aioresponses 0.7.x does
    not pass (pnuckowski/aioresponses#289). Supply it until aioresponses does."""

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _RequestAlreadySent())
        super().__init__(method, url, **kwargs)


def mocked_http(
    monkeypatch: pytest.MonkeyPatch, passthrough: Sequence[str] = ()
) -> aioresponses.aioresponses:
    """aioresponses, working on every aiohttp we support; URLs under ``passthrough`` go to
    the network (loopback only, in this suite)."""
    if "stream_writer" in inspect.signature(ClientResponse.__init__).parameters:
        monkeypatch.setattr(aioresponses.core, "ClientResponse", _CompatClientResponse)
    return aioresponses.aioresponses(passthrough=list(passthrough))


@pytest.fixture
def mock_http(monkeypatch: pytest.MonkeyPatch) -> Iterator[aioresponses.aioresponses]:
    """aioresponses. Unmatched requests fail."""
    with mocked_http(monkeypatch) as mocked:
        yield mocked


async def cancel_after(run: AsyncIterable[Any], outcomes: int) -> tuple[list[Any], float]:
    """Consume ``run`` in a task until ``outcomes`` have come, then cancel the task.

    Returns the outcomes seen and the seconds the cancelled task took to finish.
    """
    seen: list[Any] = []
    enough = asyncio.Event()

    async def consume() -> None:
        async for outcome in run:
            seen.append(outcome)
            if len(seen) >= outcomes:
                enough.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(enough.wait(), 10)
    started = asyncio.get_running_loop().time()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return seen, asyncio.get_running_loop().time() - started


def recorded(mocked: Any, method: str, url: str) -> list[Any]:
    """The calls aioresponses recorded to ``method url``."""
    return mocked.requests.get((method, URL(url)), [])  # type: ignore[no-any-return]


def recorded_request(mocked: Any, method: str, url: str, index: int = 0) -> tuple[Any, Any]:
    """The headers and JSON body of one recorded call (``None`` without a body)."""
    call = recorded(mocked, method, url)[index]
    data = call.kwargs.get("data")
    return call.kwargs["headers"], None if data is None else json.loads(data)


class ThreadedSandbox:
    """A `Sandbox` served from a thread of its own, for tests whose code under test runs its
    own event loop (the command line) or its own process."""

    def __init__(self, **options: Any) -> None:
        from smsgate.sandbox import Sandbox

        self.box = Sandbox(**options)
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Any:
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


# --- webhook receivers -----------------------------------------------------------------


class Inbox:
    """Callbacks that collect what they are given; ``hold`` makes them wait."""

    def __init__(self) -> None:
        self.reports: list[StatusReport] = []
        self.inbound: list[InboundMessage] = []
        self.arrived = asyncio.Event()
        self.hold: asyncio.Event | None = None
        self.failures = 0  # how many of the next calls raise

    async def _take(self, into: list, item) -> None:
        if self.hold is not None:
            await self.hold.wait()
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the database is down")
        into.append(item)
        self.arrived.set()

    async def on_report(self, report: StatusReport) -> None:
        await self._take(self.reports, report)

    async def on_inbound(self, message: InboundMessage) -> None:
        await self._take(self.inbound, message)


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[WebhookReceiver], Awaitable[TestClient]]]:
    clients: list[TestClient] = []

    async def start(receiver: WebhookReceiver) -> TestClient:
        app = web.Application()
        receiver.add_routes(app, "/sms")
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()
