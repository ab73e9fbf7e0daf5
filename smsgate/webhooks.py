"""Receiving what providers post: delivery reports and incoming SMS, in an aiohttp service.

The SMS Works POSTs a delivery report for each message to the URL on the account page (or a
message's ``deliveryreporturl``), and each incoming SMS to the URL of the keyword or number.
It signs neither, so the receiver only takes requests that carry a shared secret: as the last
segment of the URL (``.../{secret}``, the only way The SMS Works can send one) or in the
``X-Smsgate-Secret`` header (when a proxy in front adds it).

>>> from aiohttp import web
>>> async def on_report(report): print(report.message_id, report.status)
>>> receiver = WebhookReceiver("smsworks", secret="s3cret-s3cret-s3cret", on_report=on_report)
>>> receiver.add_routes(app := web.Application(), "/sms")
>>> sorted(route.resource.canonical for route in app.router.routes())
['/sms', '/sms/{secret}']

What the receiver answers, so the provider never waits on your code:

=====  =================================================================================
200    taken (the callback runs after the answer), or a repeat of one already taken
400    not JSON, or not a report or message the provider sends; no callback for its kind
403    no secret, or the wrong one
413    the body is larger than ``max_body``
415    the content type is not JSON
503    ``max_pending`` callbacks are still running; ``Retry-After`` says when to try again
=====  =================================================================================
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from aiohttp import web

from smsgate.config import provider_factory
from smsgate.errors import ConfigurationError, ValidationError
from smsgate.model import InboundMessage, StatusReport

__all__ = [
    "SECRET_HEADER",
    "InboundCallback",
    "ReportCallback",
    "WebhookReceiver",
]

SECRET_HEADER = "X-Smsgate-Secret"
"""The header that may carry the shared secret instead of the URL."""

ReportCallback = Callable[[StatusReport], Awaitable[None]]
InboundCallback = Callable[[InboundMessage], Awaitable[None]]

logger = logging.getLogger("smsgate.webhooks")

# Long enough not to be guessed, and safe to put in a URL as it is.
_SECRET = re.compile(r"[A-Za-z0-9._~-]{16,}")
_RETRY_AFTER_SECONDS = 30


class _Recent:
    """The keys of the last ``size`` items taken, oldest forgotten first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._keys: OrderedDict[Hashable, None] = OrderedDict()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._keys

    def add(self, key: Hashable) -> None:
        self._keys[key] = None
        if len(self._keys) > self._size:
            self._keys.popitem(last=False)

    def discard(self, key: Hashable) -> None:
        self._keys.pop(key, None)


class WebhookReceiver:
    """aiohttp handlers that take a provider's delivery reports and incoming SMS and pass
    each, once, to your async callbacks.

    The receiver answers as soon as a payload is read and checked; your callback runs
    afterwards, so a slow callback never makes the provider time out. A callback that raises
    is logged (logger ``smsgate.webhooks``) and its payload forgotten, so that if the provider
    posts it again it reaches the callback again. A repeat of a payload already taken (same
    message id and status, or the same incoming message id) is answered 200 and not passed on.

    Args:
        provider: the provider posting (``"smsworks"``).
        secret: the shared secret: 16 or more letters, digits or ``. _ ~ -``, e.g. from
            ``secrets.token_urlsafe(32)``.
        on_report: called with a `StatusReport` for each delivery report.
        on_inbound: called with an `InboundMessage` for each incoming SMS.
        max_body: the largest body read, in bytes.
        max_pending: callbacks allowed to run at once; beyond it the receiver answers 503.
        remember: how many recent payloads are remembered to recognise repeats.

    Raises:
        ConfigurationError: the provider posts nothing, the secret is weak, or no callback
            was given.
    """

    def __init__(
        self,
        provider: str,
        *,
        secret: str,
        on_report: ReportCallback | None = None,
        on_inbound: InboundCallback | None = None,
        max_body: int = 64 * 1024,
        max_pending: int = 1000,
        remember: int = 20_000,
    ) -> None:
        parse = getattr(provider_factory(provider), "parse_webhook", None)
        if parse is None:
            raise ConfigurationError(
                f"{provider} posts no delivery reports; follow statuses with smsgate.track"
            )
        if not isinstance(secret, str) or not _SECRET.fullmatch(secret):
            raise ConfigurationError(
                "secret: use 16 or more letters, digits or . _ ~ -, "
                "e.g. from secrets.token_urlsafe(32)"
            )
        if on_report is None and on_inbound is None:
            raise ConfigurationError("give on_report, on_inbound, or both")
        for name, value in (("max_body", max_body), ("max_pending", max_pending)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name}: must be a whole number of at least 1")
        self.provider = provider
        self._parse: Callable[[Any], StatusReport | InboundMessage] = parse
        self._secret = secret.encode()
        self._on_report = on_report
        self._on_inbound = on_inbound
        self.max_body = max_body
        self.max_pending = max_pending
        self._recent = _Recent(remember)
        self._pending: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"<WebhookReceiver {self.provider} pending={len(self._pending)}>"

    def add_routes(self, app: web.Application, path: str = "/") -> None:
        """Serve ``POST {path}/{secret}`` and ``POST {path}`` (secret in the header) on
        ``app``, and wait for running callbacks when ``app`` shuts down."""
        base = "/" + path.strip("/")
        app.router.add_post(base, self.handle)
        app.router.add_post(base.rstrip("/") + "/{secret}", self.handle)
        app.on_shutdown.append(self._on_shutdown)

    async def _on_shutdown(self, _: web.Application) -> None:
        await self.aclose()

    async def handle(self, request: web.Request) -> web.Response:
        """The aiohttp handler: mount it yourself on a route that may carry ``{secret}``."""
        if not self._authorised(request):
            return _answer(403, "forbidden")
        if not _is_json(request.content_type):
            return _answer(415, "send application/json")
        body = await _read(request, self.max_body)
        if body is None:
            return _answer(413, f"larger than {self.max_body} bytes")
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return _answer(400, "the body is not JSON")
        try:
            item = self._parse(data)
        except ValidationError as exc:
            return _answer(400, str(exc))
        return self._take(item)

    def _authorised(self, request: web.Request) -> bool:
        given = request.match_info.get("secret") or request.headers.get(SECRET_HEADER)
        return given is not None and hmac.compare_digest(
            given.encode("utf-8", "replace"), self._secret
        )

    def _take(self, item: StatusReport | InboundMessage) -> web.Response:
        key: Hashable
        if isinstance(item, InboundMessage):
            callback: Callable[[Any], Awaitable[None]] | None = self._on_inbound
            key, kind = ("inbound", item.message_id), "incoming messages"
        else:
            callback = self._on_report
            key, kind = ("report", item.message_id, str(item.provider_status)), "delivery reports"
        if callback is None:
            return _answer(400, f"this endpoint does not take {kind}")
        if key in self._recent:
            return _answer(200, "repeat")
        if len(self._pending) >= self.max_pending:
            return _answer(503, "busy", {"Retry-After": str(_RETRY_AFTER_SECONDS)})
        self._recent.add(key)
        task = asyncio.create_task(self._call(callback, item, key))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return _answer(200, "taken")

    async def _call(
        self, callback: Callable[[Any], Awaitable[None]], item: Any, key: Hashable
    ) -> None:
        try:
            await callback(item)
        except BaseException as exc:
            # Not handled: a repeat of it from the provider gets another chance.
            self._recent.discard(key)
            if isinstance(exc, asyncio.CancelledError):
                logger.warning("%s: callback cancelled for message %s", self, item.message_id)
                raise
            logger.exception("%s: callback failed for message %s", self, item.message_id)

    async def aclose(self, grace: float = 30) -> None:
        """Wait up to ``grace`` seconds for running callbacks, then cancel the rest."""
        if not self._pending:
            return
        _, late = await asyncio.wait(set(self._pending), timeout=grace)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


async def _read(request: web.Request, limit: int) -> bytes | None:
    """The body, or ``None`` when it is longer than ``limit`` (read no further than that)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    while chunk := await request.content.readany():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _answer(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=text, headers=headers)
