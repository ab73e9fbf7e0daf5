"""The receiver without a web framework: a request described plainly comes in, a plain
answer goes out. The aiohttp and ASGI adapters only translate to and from these; every
check, limit, answer and callback is here (the callbacks' running in `._calls`).

A request is checked in the order that costs least to refuse: its route and method, the
secret, the content type, the declared length and encoding; only then is its body read,
within ``max_body`` bytes (as sent and decoded) and ``read_timeout`` seconds, decoded from
JSON and parsed by the provider's parser.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import attrs

from smsgate import events
from smsgate.checks import is_seconds, is_whole
from smsgate.errors import ConfigurationError, SmsGateError, ValidationError
from smsgate.model import InboundMessage, StatusReport
from smsgate.registry import webhook_parser
from smsgate.suppression import SuppressionList, apply_inbound
from smsgate.webhooks._calls import Callbacks, FailureCallback
from smsgate.webhooks._logs import SECRETS

logger = logging.getLogger("smsgate.webhooks")

SECRET_HEADER = "X-Smsgate-Secret"
"""The header that may carry the shared secret instead of the URL."""

ReportCallback = Callable[[StatusReport], Awaitable[None]]
InboundCallback = Callable[[InboundMessage], Awaitable[None]]
BodyReader = Callable[[], Awaitable[bytes]]
"""Gives the next piece of a body as it arrives, and ``b""`` once it has all arrived."""

# Long enough not to be guessed, and safe to put in a URL as it is.
_SECRET = re.compile(r"[A-Za-z0-9._~-]{16,}")
_RETRY_AFTER_SECONDS = 30
# The codings a body may arrive in, and zlib's window bits for each (gzip's header, or
# zlib's, which HTTP calls "deflate").
_CODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def _lower_names(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header names in lower case; of a name given twice, the first value."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    lowered: dict[str, str] = {}
    for name, value in pairs:
        lowered.setdefault(name.lower(), value)
    return lowered


@attrs.frozen(kw_only=True, eq=False)
class WebhookRequest:
    """A request to the receiver, as any web framework can describe it.

    Attributes:
        method: ``"POST"``, or any other (answered 405).
        path: the path below where the receiver is served, percent-decoded: ``"/{secret}"``,
            or ``"/"`` (or ``""``) with the secret in the `SECRET_HEADER` header. Any other
            is answered 404.
        headers: the request's headers, by name in any case (a name given twice: the first).
        body: the body as it was sent (a ``Content-Encoding`` of gzip or deflate is
            undone by the receiver), or a `BodyReader` that gives it piece by piece, so that
            the receiver reads no more of it than it takes.
        query: the query string, undecoded; no provider puts in it anything the receiver
            reads.
    """

    method: str
    path: str
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_lower_names)
    body: bytes | BodyReader = b""
    query: str = ""


@attrs.frozen
class WebhookAnswer:
    """What the receiver answers: a status, its headers and a short text body."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def text(self) -> str:
        """The body as text (it is always UTF-8)."""
        return self.body.decode()


def _answer(status: int, text: str, *headers: tuple[str, str]) -> WebhookAnswer:
    return WebhookAnswer(
        status, text.encode(), (("Content-Type", "text/plain; charset=utf-8"), *headers)
    )


_RETRY_AFTER = ("Retry-After", str(_RETRY_AFTER_SECONDS))
NOT_FOUND = _answer(404, "404: Not Found")  # the words aiohttp's router answers with
NOT_ALLOWED = _answer(405, "405: Method Not Allowed", ("Allow", "POST"))
FORBIDDEN = _answer(403, "forbidden")
NOT_JSON_TYPE = _answer(415, "send application/json")
NOT_A_CODING = _answer(
    415, "send the body as it is, or in gzip or deflate", ("Accept-Encoding", "gzip, deflate")
)
UNDECODABLE = _answer(400, "the body cannot be decoded: is its Content-Encoding true?")
CUT_SHORT = _answer(400, "the connection closed before the body ended")
NOT_JSON = _answer(400, "the body is not JSON")
TAKEN = _answer(200, "taken")
REPEAT = _answer(200, "repeat")
BUSY = _answer(503, "busy", _RETRY_AFTER)
NOT_TAKEN = _answer(503, "not taken: try again", _RETRY_AFTER)


class _Undecodable(Exception):
    """The body is not in the coding its ``Content-Encoding`` names."""


class Receiver(Callbacks):
    """`WebhookReceiver` without its adapters: what it is given, and how it answers."""

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
        suppression: SuppressionList | None = None,
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
        if suppression is not None and not isinstance(suppression, SuppressionList):
            raise ConfigurationError("suppression: must be a SuppressionList")
        if on_report is None and on_inbound is None and suppression is None:
            raise ConfigurationError("give on_report, on_inbound or suppression: at least one")
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
        super().__init__(
            on_failure=on_failure,
            remember=remember,
            remember_bytes=remember_bytes,
            callback_timeout=callback_timeout,
            answer_after_callback=answer_after_callback,
        )
        self.provider = provider
        self._parse: Callable[[Any], StatusReport | InboundMessage] = parse
        self._secret = secret.encode()
        self._on_report = on_report
        self._on_inbound = on_inbound
        self.suppression = suppression
        self.max_body = max_body
        self.max_pending = max_pending
        self.read_timeout = read_timeout
        SECRETS.add(secret)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.provider} pending={len(self._pending)}>"

    async def respond(self, request: WebhookRequest) -> WebhookAnswer:
        """Answer ``request``: whatever it holds, an answer from the table in
        `smsgate.webhooks`; a `BodyReader` may raise ConnectionError for a client gone
        mid-body (the answer is then a 400 nobody reads). A payload taken is passed to its
        callback after the answer (or before it, with ``answer_after_callback``). For a
        framework smsgate has no adapter for::

            answer = await receiver.respond(
                WebhookRequest(method="POST", path="/" + secret, headers=headers, body=body)
            )
            # send answer.status, answer.headers and answer.body
        """
        path = request.path
        if path in ("", "/"):
            secret = None
        elif path.startswith("/") and "/" not in path[1:]:
            secret = path[1:]  # not empty: "/" alone is the route without one
        else:
            return NOT_FOUND
        if request.method != "POST":
            return NOT_ALLOWED
        return await self._answer_post(secret, request.headers, request.body, decoded=False)

    async def _answer_post(
        self,
        secret: str | None,
        headers: Mapping[str, str],
        body: bytes | BodyReader,
        *,
        decoded: bool,
    ) -> WebhookAnswer:
        """The answer to a POST on the receiver's route: ``secret`` from its path, if the
        route has one; ``headers`` looked up by lower-case name; ``decoded``: whether the
        server has undone the body's ``Content-Encoding`` itself."""
        given = secret or headers.get("x-smsgate-secret")
        if given is None or not hmac.compare_digest(given.encode("utf-8", "replace"), self._secret):
            return FORBIDDEN
        if not _is_json(headers.get("content-type")):
            return NOT_JSON_TYPE
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return self._too_large()
        coding = None if decoded else headers.get("content-encoding")
        window = None
        if coding is not None and (coding := coding.strip().lower()) not in ("", "identity"):
            window = _CODINGS.get(coding)
            if window is None:
                return NOT_A_CODING
        try:
            if isinstance(body, bytes):
                whole = _Body.of(body, self.max_body, window)
            else:
                async with asyncio.timeout(self.read_timeout):
                    whole = await _Body.read(body, self.max_body, window)
        except TimeoutError:
            return _answer(408, f"the body took longer than {self.read_timeout:g} s")
        except _Undecodable:
            return UNDECODABLE
        except ConnectionError:
            return CUT_SHORT
        if whole is None:
            return self._too_large()
        try:
            data = json.loads(whole)
        except (ValueError, RecursionError):
            return NOT_JSON
        try:
            item = self._parse(data)
        except ValidationError as exc:
            return _answer(400, str(exc))
        return await self._take(item)

    def _too_large(self) -> WebhookAnswer:
        return _answer(413, f"larger than {self.max_body} bytes")

    async def _take(self, item: StatusReport | InboundMessage) -> WebhookAnswer:
        key: tuple[str, ...]
        kind: Literal["status", "inbound"]
        if isinstance(item, InboundMessage):
            callback: Callable[[Any], Awaitable[None]] | None = self._on_inbound
            key, kind = ("inbound", item.message_id), "inbound"
            if self.suppression is not None and key not in self._recent:
                # Before the answer: an opt-out that cannot be recorded is not taken, and
                # the provider posts it again.
                try:
                    async with asyncio.timeout(self.callback_timeout):
                        await apply_inbound(self.suppression, item)
                except (SmsGateError, TimeoutError) as exc:
                    why = exc if isinstance(exc, SmsGateError) else "it took too long"
                    logger.error("a reply could not be applied to the suppression list: %s", why)
                    return _answer(503, "the suppression list cannot be written; try again")
                if callback is None:
                    callback = _nothing
        else:
            callback = self._on_report
            status = str(item.provider_status).upper()
            key, kind = ("report", item.message_id, status), "status"
        if callback is None:
            takes = "incoming messages" if kind == "inbound" else "delivery reports"
            return _answer(400, f"this endpoint does not take {takes}")
        if self.answer_after_callback:
            running = self._running.get(key)
            if running is not None:
                # A repeat while its callback runs: it gets the answer the first one gets.
                self._received(kind, (item,), repeated=1)
                return _after(await asyncio.shield(running.outcome()))
        if key in self._recent:
            self._received(kind, (item,), repeated=1)
            return REPEAT
        if len(self._pending) >= self.max_pending:
            return BUSY
        call = self._start(callback, item, key)
        self._received(kind, (item,), repeated=0)
        if not self.answer_after_callback:
            return TAKEN
        return _after(await asyncio.shield(call.outcome()))

    def _received(
        self,
        kind: Literal["status", "inbound"],
        items: Sequence[StatusReport | InboundMessage],
        *,
        repeated: int,
    ) -> None:
        """A request was accepted: ``items`` of ``kind`` (delivery reports, or incoming
        messages), of which ``repeated`` had been taken before and were not passed on.
        Called once a request, after its payload was parsed and passed on (or found to be a
        repeat); not for a request refused, or answered 503 (busy)."""
        if events.hooks:
            events.emit(events.WebhookReceived(self.provider, kind, len(items), repeated))


async def _nothing(item: InboundMessage) -> None:
    """What an incoming message does when the suppression list was its only use."""


def _after(taken: bool) -> WebhookAnswer:
    """The answer once the callback has run."""
    return TAKEN if taken else NOT_TAKEN


def _is_json(content_type: str | None) -> bool:
    if content_type == "application/json":
        return True  # as sent, no parameters: the common case needs no parsing
    if content_type is None:
        return False
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


class _Body:
    """A body taken piece by piece, decoded from gzip or deflate on the way (with zlib's
    ``window`` bits), and given up as soon as it is longer than ``limit``, as sent or
    decoded: a small body that decodes to a large one is cut off where it passes it."""

    __slots__ = ("_decoder", "_limit", "_parts", "_sent", "_size")

    def __init__(self, limit: int, window: int | None) -> None:
        self._limit = limit
        self._decoder = None if window is None else zlib.decompressobj(window)
        self._parts: list[bytes] = []
        self._sent = 0
        self._size = 0

    @classmethod
    def of(cls, body: bytes, limit: int, window: int | None) -> bytes | None:
        """The whole of ``body``, decoded; ``None`` when it is longer than ``limit``."""
        if window is None:  # the common case
            return body if len(body) <= limit else None
        whole = cls(limit, window)
        return whole.end() if whole.add(body) else None

    @classmethod
    async def read(cls, read: BodyReader, limit: int, window: int | None) -> bytes | None:
        """The body ``read`` gives, decoded; ``None`` as soon as it is longer than ``limit``
        (read no further)."""
        whole = cls(limit, window)
        while chunk := await read():
            if not whole.add(chunk):
                return None
        return whole.end()

    def add(self, chunk: bytes) -> bool:
        """Take the next piece; whether the body is still within the limit."""
        self._sent += len(chunk)
        if self._sent > self._limit:
            return False
        if self._decoder is not None:
            try:
                # No more than one byte past the limit: a bomb is cut off where it passes it.
                chunk = self._decoder.decompress(chunk, self._limit + 1 - self._size)
            except zlib.error as exc:
                raise _Undecodable from exc
        self._size += len(chunk)
        self._parts.append(chunk)
        return self._size <= self._limit

    def end(self) -> bytes | None:
        """The body once it has all arrived; ``None`` if it decodes to more than the
        limit."""
        decoder = self._decoder
        if decoder is not None:
            try:
                rest = decoder.flush()
            except zlib.error as exc:
                raise _Undecodable from exc
            if not decoder.eof or decoder.unused_data:  # cut short, or more after its end
                raise _Undecodable
            self._size += len(rest)
            if self._size > self._limit:
                return None
            self._parts.append(rest)
        return b"".join(self._parts)
