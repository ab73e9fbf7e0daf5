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

What the receiver answers:

=====  =================================================================================
200    taken (the callback runs after the answer; with ``answer_after_callback``, it has
       run), or a repeat of one already taken
400    not JSON, not a report or message the provider sends (any field of the wrong type
       included), a body that cannot be decoded (a false ``Content-Encoding``), or a client
       that went away mid-body; no callback for its kind
403    no secret, or the wrong one
408    the body took longer than ``read_timeout`` to arrive
413    the body is larger than ``max_body``
415    the content type is not JSON
503    ``max_pending`` callbacks are still running, or (``answer_after_callback``) the
       callback failed or ran past ``callback_timeout``: ``Retry-After`` says when to
       try again
=====  =================================================================================

What it guarantees: no answer is a 500; nothing invalid reaches a callback; every callback
ends within ``callback_timeout`` (then it is cancelled), so hung callbacks cannot fill
``max_pending``; a payload whose callback failed, timed out or was cancelled at shutdown is
never lost silently: it is logged at ERROR, passed to ``on_failure``, and forgotten, so that
a repeat from the provider reaches the callback again; with ``answer_after_callback`` the
provider is told to try again instead of 200. The secret never appears in a log line smsgate
writes; aiohttp's access log shows request paths, so serve with ``AccessLogger``. What needs a
proxy in front: slow clients trickling their headers (aiohttp reads headers before any
handler runs), connection limits and TLS.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import hdrs, web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from smsgate.checks import is_seconds, is_whole
from smsgate.errors import ConfigurationError, ValidationError
from smsgate.model import InboundMessage, StatusReport
from smsgate.registry import webhook_parser

__all__ = [
    "SECRET_HEADER",
    "AccessLogger",
    "FailureCallback",
    "InboundCallback",
    "ReportCallback",
    "WebhookReceiver",
]

SECRET_HEADER = "X-Smsgate-Secret"
"""The header that may carry the shared secret instead of the URL."""

ReportCallback = Callable[[StatusReport], Awaitable[None]]
InboundCallback = Callable[[InboundMessage], Awaitable[None]]
FailureCallback = Callable[[StatusReport | InboundMessage, BaseException], Awaitable[None]]
"""Told of a payload whose callback failed, ran out of time or was cancelled at shutdown."""

logger = logging.getLogger("smsgate.webhooks")

# Long enough not to be guessed, and safe to put in a URL as it is.
_SECRET = re.compile(r"[A-Za-z0-9._~-]{16,}")
_RETRY_AFTER_SECONDS = 30


class _Recent:
    """The keys of the last ``size`` items taken, and no more than ``max_bytes`` of them,
    oldest forgotten first (a hostile client could otherwise send long ids)."""

    def __init__(self, size: int, max_bytes: int) -> None:
        self._size = size
        self._max_bytes = max_bytes
        self._bytes = 0
        self._marks = itertools.count()
        self._keys: OrderedDict[tuple[str, ...], tuple[int, int]] = OrderedDict()

    def __contains__(self, key: tuple[str, ...]) -> bool:
        return key in self._keys

    def add(self, key: tuple[str, ...]) -> int:
        """Remember ``key``; the mark that `discard` takes to forget this very entry."""
        size = len("".join(key).encode("utf-8", "replace")) + 64  # and its keeping
        mark = next(self._marks)
        keys = self._keys
        if key in keys:
            self.discard(key)
        keys[key] = (size, mark)
        self._bytes += size
        while len(keys) > self._size or self._bytes > self._max_bytes:
            self._bytes -= keys.popitem(last=False)[1][0]
        return mark

    def discard(self, key: tuple[str, ...], mark: int | None = None) -> None:
        """Forget ``key`` (only if it is still the entry ``mark`` made, when given)."""
        entry = self._keys.get(key)
        if entry is not None and (mark is None or entry[1] == mark):
            del self._keys[key]
            self._bytes -= entry[0]


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
        on_failure: told of each payload whose callback failed, ran past
            ``callback_timeout`` or was cancelled at shutdown (it is logged either way).
        max_body: the largest body read, in bytes.
        max_pending: callbacks allowed to run at once; beyond it the receiver answers 503.
        remember: how many recent payloads are remembered to recognise repeats.
        remember_bytes: and how many bytes of their ids at most.
        read_timeout: seconds a request's body may take to arrive (then 408).
        callback_timeout: seconds a callback may run; then it is cancelled, and counts as
            failed.
        answer_after_callback: answer only once the callback has run: 200 if it succeeded,
            503 (try again) if it failed or timed out, so that the provider keeps a report
            your code did not take. By default the answer comes first and the provider
            never waits on your code.

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
        on_failure: FailureCallback | None = None,
        max_body: int = 64 * 1024,
        max_pending: int = 1000,
        remember: int = 20_000,
        remember_bytes: int = 4 * 1024 * 1024,
        read_timeout: float = 10.0,
        callback_timeout: float = 30.0,
        answer_after_callback: bool = False,
    ) -> None:
        parse = webhook_parser(provider)
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
        counts = (
            ("max_body", max_body),
            ("max_pending", max_pending),
            ("remember", remember),
            ("remember_bytes", remember_bytes),
        )
        for name, value in counts:
            if not is_whole(value, least=1):
                raise ConfigurationError(f"{name}: must be a whole number of at least 1")
        for name, seconds in (
            ("read_timeout", read_timeout),
            ("callback_timeout", callback_timeout),
        ):
            if not is_seconds(seconds):
                raise ConfigurationError(f"{name}: must be a positive number of seconds")
        if not isinstance(answer_after_callback, bool):
            raise ConfigurationError("answer_after_callback: must be true or false")
        self.provider = provider
        self._parse: Callable[[Any], StatusReport | InboundMessage] = parse
        self._secret = secret.encode()
        self._on_report = on_report
        self._on_inbound = on_inbound
        self._on_failure = on_failure
        self.max_body = max_body
        self.max_pending = max_pending
        self.read_timeout = read_timeout
        self.callback_timeout = callback_timeout
        self.answer_after_callback = answer_after_callback
        self._recent = _Recent(remember, remember_bytes)
        self._pending: set[_Call] = set()
        self._sweeping: asyncio.TimerHandle | None = None
        self._running: dict[tuple[str, ...], _Call] = {}
        self._children: set[asyncio.Task[None]] = set()
        _SECRETS.add(secret)

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
        if not _is_json(request):
            return _answer(415, "send application/json")
        # A body that was not read to its end leaves the connection unusable: each answer
        # below closes it, rather than have aiohttp read (and fail on) the rest.
        try:
            if request.content.is_eof():  # all of it is in (the common case): no waiting
                body = await _read(request, self.max_body)
            else:
                async with asyncio.timeout(self.read_timeout):
                    body = await _read(request, self.max_body)
        except TimeoutError:
            return _closing(request, 408, f"the body took longer than {self.read_timeout:g} s")
        except (HttpProcessingError, RequestPayloadError):
            return _closing(
                request, 400, "the body cannot be decoded: is its Content-Encoding true?"
            )
        except ConnectionError:
            return _closing(request, 400, "the connection closed before the body ended")
        if body is None:
            return _closing(request, 413, f"larger than {self.max_body} bytes")
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return _answer(400, "the body is not JSON")
        try:
            item = self._parse(data)
        except ValidationError as exc:
            return _answer(400, str(exc))
        return await self._take(item)

    def _authorised(self, request: web.Request) -> bool:
        given = request.match_info.get("secret") or request.headers.get(SECRET_HEADER)
        return given is not None and hmac.compare_digest(
            given.encode("utf-8", "replace"), self._secret
        )

    async def _take(self, item: StatusReport | InboundMessage) -> web.Response:
        key: tuple[str, ...]
        if isinstance(item, InboundMessage):
            callback: Callable[[Any], Awaitable[None]] | None = self._on_inbound
            key, kind = ("inbound", item.message_id), "incoming messages"
        else:
            callback = self._on_report
            status = str(item.provider_status).upper()
            key, kind = ("report", item.message_id, status), "delivery reports"
        if callback is None:
            return _answer(400, f"this endpoint does not take {kind}")
        if self.answer_after_callback:
            running = self._running.get(key)
            if running is not None:
                # A repeat while its callback runs: it gets the answer the first one gets.
                return _after(await asyncio.shield(running.outcome()))
        if key in self._recent:
            return _answer(200, "repeat")
        if len(self._pending) >= self.max_pending:
            return _answer(503, "busy", {"Retry-After": str(_RETRY_AFTER_SECONDS)})
        call = self._start(callback, item, key)
        if not self.answer_after_callback:
            return _answer(200, "taken")
        return _after(await asyncio.shield(call.outcome()))

    # How a callback runs. Each runs in one task of its own, started after the answer. At its
    # deadline it is given up: cancelled and left to end on its own, so that one that goes on
    # awaiting after it is cancelled cannot hold its slot. Whichever comes first, its end or
    # its deadline, settles the call: frees its slot, and, if it did not take the payload,
    # forgets the payload and tells ``on_failure``. One timer, set for the earliest deadline,
    # serves all calls, rather than a timer each, made and cancelled for every payload.

    def _start(
        self, callback: Callable[[Any], Awaitable[None]], item: Any, key: tuple[str, ...]
    ) -> _Call:
        call = _Call(callback, item, key, self._recent.add(key))
        loop = asyncio.get_running_loop()
        call.task = loop.create_task(self._run(call))
        call.deadline = loop.time() + self.callback_timeout
        self._pending.add(call)
        if self._sweeping is None or call.deadline < self._sweeping.when():
            self._wake_at(loop, call.deadline)
        self._children.add(call.task)
        if self.answer_after_callback:
            self._running[key] = call
        return call

    async def _run(self, call: _Call) -> None:
        """The call's task: the callback, then the call settled, unless its deadline or
        `aclose` gave it up first (the task's end is then no news)."""
        try:
            await call.callback(call.item)
        except asyncio.CancelledError as exc:
            if call.open:
                logger.error("%s: callback cancelled for message %s", self, call.item.message_id)
                self._ended(call, exc)
        except Exception as exc:
            if call.open:
                logger.error(
                    "%s: callback failed for message %s",
                    self,
                    call.item.message_id,
                    exc_info=exc,
                )
                self._ended(call, exc)
        else:
            if call.open:
                self._ended(call, None)
        finally:
            self._children.discard(call.task)

    def _sweep(self) -> None:
        """Give up the calls past their deadline; wake again at the next one's."""
        self._sweeping = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        late = [call for call in self._pending if call.deadline <= now]
        for call in late:
            self._give_up(call, None)
        if coming := [call.deadline for call in self._pending if call.deadline > now]:
            self._wake_at(loop, min(coming))

    def _wake_at(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._sweeping is not None:
            self._sweeping.cancel()
        self._sweeping = loop.call_at(when, self._sweep)

    def _give_up(self, call: _Call, error: asyncio.CancelledError | None) -> None:
        """Stop a callback that ran past its deadline, or (with ``error``) that is still
        running when the receiver closes."""
        if not call.open:
            return
        call.task.cancel()
        if error is None:
            logger.error(
                "%s: callback for message %s ran past %g s and was stopped",
                self,
                call.item.message_id,
                self.callback_timeout,
            )
            self._ended(call, TimeoutError(f"the callback ran past {self.callback_timeout:g} s"))
        else:
            logger.error("%s: callback cancelled for message %s", self, call.item.message_id)
            self._ended(call, error)

    def _ended(self, call: _Call, error: BaseException | None) -> None:
        """The callback took the payload (``error`` is ``None``) or did not: settle the call;
        one that did not is forgotten (a repeat from the provider gets another chance) and
        settles once ``on_failure`` has been told."""
        call.open = False
        if error is None:
            self._settle(call, True)
            return
        self._recent.discard(call.key, call.mark)
        if self._on_failure is None:
            self._settle(call, False)
        else:
            self._spawn(self._tell_failure(call, error))

    def _settle(self, call: _Call, taken: bool) -> None:
        self._pending.discard(call)
        if self._running.get(call.key) is call:
            del self._running[call.key]
        call.settle(taken)

    def _spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        """A task the receiver keeps until it ends (and cancels when it closes), whose
        failure is never "never retrieved"."""
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._children.add(task)

        def ended(done: asyncio.Task[None]) -> None:
            self._children.discard(done)
            if not done.cancelled():
                done.exception()

        task.add_done_callback(ended)
        return task

    async def _tell_failure(self, call: _Call, error: BaseException) -> None:
        """Tell ``on_failure``, within the deadline; then settle the call."""
        assert self._on_failure is not None
        try:
            told = self._spawn(self._on_failure(call.item, error))
            done, _ = await asyncio.wait({told}, timeout=self.callback_timeout)
            if not done:
                told.cancel()
                logger.error("%s: on_failure ran past %g s", self, self.callback_timeout)
            elif not told.cancelled() and told.exception() is not None:
                logger.error(
                    "%s: on_failure failed for message %s",
                    self,
                    call.item.message_id,
                    exc_info=told.exception(),
                )
        finally:
            self._settle(call, False)

    async def aclose(self, grace: float = 30) -> None:
        """Wait up to ``grace`` seconds for running callbacks, then cancel the rest (and
        anything a stopped callback left running)."""
        if self._pending:
            calls = list(self._pending)
            _, late = await asyncio.wait({call.outcome() for call in calls}, timeout=grace)
            for call in calls:
                if call.outcome() in late:
                    self._give_up(call, asyncio.CancelledError())
            if late:
                await asyncio.wait(late)
        if self._sweeping is not None and not self._pending:
            self._sweeping.cancel()
            self._sweeping = None
        for child in list(self._children):
            child.cancel()
        if self._children:
            await asyncio.wait(set(self._children), timeout=grace)


class _Call:
    """One payload's callback: its task, its deadline, and whether it took the payload."""

    __slots__ = ("_outcome", "callback", "deadline", "item", "key", "mark", "open", "task")

    task: asyncio.Task[None]
    deadline: float  # in the loop's time

    def __init__(
        self,
        callback: Callable[[Any], Awaitable[None]],
        item: Any,
        key: tuple[str, ...],
        mark: int,
    ) -> None:
        self.callback = callback
        self.item = item
        self.key = key
        self.mark = mark
        self.open = True  # the callback runs, and has not been given up on
        self._outcome: asyncio.Future[bool] | None = None

    def outcome(self) -> asyncio.Future[bool]:
        """Whether the payload was taken, once the call settles: asked of a call that has
        not, and made only when asked."""
        if self._outcome is None:
            self._outcome = asyncio.get_running_loop().create_future()
        return self._outcome

    def settle(self, taken: bool) -> None:
        if self._outcome is not None:
            self._outcome.set_result(taken)


def _after(taken: bool) -> web.Response:
    """The answer once the callback has run."""
    if taken:
        return _answer(200, "taken")
    return _answer(503, "not taken: try again", {"Retry-After": str(_RETRY_AFTER_SECONDS)})


def _is_json(request: web.Request) -> bool:
    if request.headers.get(hdrs.CONTENT_TYPE) == "application/json":
        return True  # as sent, no parameters: the common case needs no parsing
    content_type = request.content_type
    return content_type == "application/json" or content_type.endswith("+json")


async def _read(request: web.Request, limit: int) -> bytes | None:
    """The body, or ``None`` when it is longer than ``limit`` (read no further than that)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    content = request.content
    chunk = await content.readany()
    if content.at_eof():  # the whole body in one piece, as a small one arrives
        return chunk if len(chunk) <= limit else None
    body = bytearray(chunk)
    while len(body) <= limit and (chunk := await content.readany()):
        body += chunk
    return bytes(body) if len(body) <= limit else None


def _answer(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=text, headers=headers)


def _closing(request: web.Request, status: int, text: str) -> web.Response:
    """An answer after which the connection closes, the rest of the body unread (aiohttp
    would otherwise go on reading it, and meet the same failure again)."""
    request.content.feed_eof()
    answer = _answer(status, text)
    answer.force_close()
    return answer


_SECRETS: set[str] = set()
"""Every receiver's secret in this process, for `AccessLogger` to blank."""


class AccessLogger(AbstractAccessLogger):
    """aiohttp's access log, without any receiver's secret: wherever one appears in a
    request's path (on any route, matched or not), it is written ``********``. The path is
    written as it arrived, percent-encoded, so that no request can forge a log line.

    Serve with it: ``web.run_app(app, access_log_class=AccessLogger)``, or
    ``web.AppRunner(app, access_log_class=AccessLogger)``.
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        try:
            path = request.raw_path
            method, version = request.method, request.version
        except Exception:  # a request aiohttp's parser refused
            path, method, version = "-", "-", None
        for secret in _SECRETS:
            path = path.replace(secret, "********")
        self.logger.info(
            '%s "%s %s HTTP/%s" %s %s %.6f',
            request.remote,
            method,
            path,
            "-" if version is None else f"{version.major}.{version.minor}",
            response.status,
            response.body_length,
            time,
        )
