"""ASGI applications served by uvicorn on 127.0.0.1 in the test's own event loop, mounted
under a prefix, or called directly with the messages a server would pass. Every wait is
bounded; nothing leaves 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any, Self

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class _Server(uvicorn.Server):
    """uvicorn's server, leaving the test runner's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Uvicorn:
    """``app`` served by uvicorn on 127.0.0.1 (a port of the system's choosing) with its
    lifespan on, in the running event loop; stopped, lifespan shutdown and all, on exit."""

    def __init__(self, app: App, **options: Any) -> None:
        options = {"log_level": "warning", "log_config": None, **options}
        self.config = uvicorn.Config(
            app, host="127.0.0.1", port=0, lifespan="on", timeout_graceful_shutdown=5, **options
        )
        self.server = _Server(self.config)
        self._serving: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        self._serving = asyncio.create_task(self.server.serve())
        async with asyncio.timeout(5):
            while not self.server.started:
                if self._serving.done():
                    await self._serving  # its error, or SystemExit for a failed startup
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._serving is not None
        self.server.should_exit = True
        async with asyncio.timeout(10):
            await self._serving


def mounted(prefix: str, app: App) -> App:
    """``app`` under ``prefix``, as a framework mounts one: its ``root_path`` grows by
    ``prefix``, its ``path`` is left whole; any other path is a 404; lifespan goes through."""

    async def outer(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await app(scope, receive, send)
            return
        root = scope.get("root_path", "") + prefix
        if scope["path"] == root or scope["path"].startswith(root + "/"):
            await app({**scope, "root_path": root}, receive, send)
            return
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"not mounted here"})

    return outer


def http_scope(method: str, path: str, headers: dict[str, str], **more: Any) -> Scope:
    """The scope a server passes for an HTTP/1.1 request."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        **more,
    }


class Exchange:
    """An application called as a server would call it: ``incoming`` are the messages it
    receives, in order (then ``http.disconnect``, as a server gives once a request is
    over); ``sent`` what it sent; ``received`` how many messages it asked for."""

    def __init__(self, *incoming: Message) -> None:
        self.incoming = list(incoming)
        self.sent: list[Message] = []
        self.received = 0

    async def receive(self) -> Message:
        self.received += 1
        if self.incoming:
            return self.incoming.pop(0)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    async def run(self, app: App, scope: Scope) -> list[Message]:
        async with asyncio.timeout(5):
            await app(scope, self.receive, self.send)
        return self.sent

    @property
    def answer(self) -> tuple[int, dict[str, str], bytes]:
        """The status, headers and body of the one answer sent."""
        start, body = self.sent
        assert (start["type"], body["type"]) == ("http.response.start", "http.response.body")
        headers = {k.decode(): v.decode() for k, v in start["headers"]}
        assert not body.get("more_body", False)
        return start["status"], headers, body["body"]


def body_messages(body: bytes, piece: int) -> list[Message]:
    """``body`` as ``http.request`` messages of ``piece`` bytes (at least one message)."""
    parts = [body[i : i + piece] for i in range(0, len(body), piece)] or [b""]
    return [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]


class RawClient(asyncio.Protocol):
    """A TCP client on 127.0.0.1 that keeps every byte the server sends, whatever becomes of
    the connection afterwards (a server that closes while the client still writes may
    reset it)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = asyncio.Event()
        self.transport: asyncio.Transport | None = None

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        loop = asyncio.get_running_loop()
        _, client = await loop.create_connection(cls, "127.0.0.1", port)
        return client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        if not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        assert self.transport is not None
        self.transport.close()


class Watched:
    """An ASGI application between the server and ``app``: what ``app`` received and sent
    for its HTTP requests (``ended`` once one has ended)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.received: list[str] = []
        self.body_bytes = 0
        self.sent: list[Message] = []
        self.ended = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def watched_receive() -> Message:
            message = await receive()
            self.received.append(message["type"])
            self.body_bytes += len(message.get("body", b""))
            return message

        async def watched_send(message: Message) -> None:
            self.sent.append(message)
            await send(message)

        try:
            await self.app(scope, watched_receive, watched_send)
        finally:
            self.ended.set()
