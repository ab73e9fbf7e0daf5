"""The receiver as an ASGI 3 application, for any ASGI server or framework: pure ASGI, no
framework imported. The ASGI specification: https://asgi.readthedocs.io/en/latest/specs/"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from smsgate.webhooks._core import Receiver, WebhookRequest

# What ASGI passes around: dictionaries of whatever the specification puts in them.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class AsgiApp:
    """A receiver as an ASGI 3 application: `WebhookReceiver.asgi` makes one.

    It serves ``POST /{secret}`` and ``POST /`` (secret in the header) below where it is
    mounted (the scope's ``root_path``), answers ``lifespan`` (at shutdown it waits for
    running callbacks, as `WebhookReceiver.aclose` does) and refuses websockets.
    """

    __slots__ = ("receiver",)

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def __repr__(self) -> str:
        return f"<AsgiApp of {self.receiver!r}>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            # Closed before it is accepted: the server refuses the handshake (403).
            if (await receive())["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": 1000})
        else:  # as the specification asks of a scope an application does not know
            raise ValueError(f"the webhook receiver serves no {kind!r} scope")

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = _Body(receive)
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        request = WebhookRequest(
            method=scope["method"],
            path=_below_root(scope),
            headers=headers,
            body=body.read,
            query=scope.get("query_string", b"").decode("latin-1"),
        )
        answer = await self.receiver.respond(request)
        if body.gone:
            return  # nobody to answer
        sent = [(name.lower().encode(), value.encode()) for name, value in answer.headers]
        sent.append((b"content-length", str(len(answer.body)).encode()))
        if (
            not body.ended
            and scope.get("http_version") in ("1.0", "1.1")
            and ("transfer-encoding" in headers or headers.get("content-length", "0") != "0")
        ):
            # The rest of the body unread: the connection cannot carry another request.
            sent.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": answer.status, "headers": sent})
        await send({"type": "http.response.body", "body": answer.body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.receiver.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _below_root(scope: Scope) -> str:
    """The request's path below where the application is mounted. Servers and frameworks
    differ on whether ``path`` holds ``root_path`` (uvicorn's ``--root-path`` and
    Starlette's ``Mount`` put it in); both are read alike."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and (path == root or path.startswith(root + "/")):
        return path[len(root) :]
    return path


class _Body:
    """A request's body, message by message, as the receiver asks for it."""

    __slots__ = ("_receive", "ended", "gone")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.ended = False  # the last of it was read
        self.gone = False  # the client went away

    async def read(self) -> bytes:
        """The next piece; ``b""`` at the end. Raises ConnectionResetError if the client
        goes away first."""
        while not self.ended:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.gone = True
                raise ConnectionResetError("the client went away before the body ended")
            self.ended = not message.get("more_body", False)
            if chunk := message.get("body", b""):
                return bytes(chunk)
        return b""
