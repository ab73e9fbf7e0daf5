"""The small base every HTTP adapter stands on.

`HttpGateway` owns the I/O, and nothing else: one `aiohttp.ClientSession` (borrowed, or made
lazily and closed by ``aclose``), timeouts, the ``User-Agent``, logging without secrets, and the
one place where aiohttp and JSON failures become `TransportError` and HTTP error answers become
`ProviderError` (through the `HttpGateway.error_from_response` hook). Adapters build payloads
and read answers with pure functions, and call `HttpGateway.request`.
Adapters hold each credential in a `Secret` (from `smsgate.redaction`, re-exported here).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypedDict, TypeVar, cast, overload

import aiohttp
import attrs
from aiolimiter import AsyncLimiter

from smsgate import events
from smsgate.checks import is_seconds, is_whole
from smsgate.errors import (
    ConfigurationError,
    GatewayError,
    ProviderError,
    TransportError,
    ValidationError,
)
from smsgate.gateway import BaseGateway, dispatch_listener
from smsgate.model import Message
from smsgate.providers._http import (
    BODY_HEADERS,
    HEADERS,
    IDEMPOTENT,
    NO_HEADERS,
    USER_AGENT,
    Headers,
    HttpResponse,
    set_body,
    set_headers,
    set_status,
)
from smsgate.providers._urls import checked_base_url
from smsgate.providers._wire import WireError, write
from smsgate.providers._wire import read as read_as
from smsgate.providers.codec import ErrorAnswer, parse_retry_after, provider_error, provider_options
from smsgate.ratelimit import LocalRateLimiter, RateLimiter, parts_of
from smsgate.redaction import Redactor, Secret, SecretHeader
from smsgate.retry import RetryPolicy

__all__ = [
    "USER_AGENT",
    "HttpGateway",
    "HttpOptions",
    "HttpResponse",
    "Secret",
    "parse_retry_after",
    "provider_options",
]

T = TypeVar("T")

logger = logging.getLogger("smsgate.http")

_LARGE = 512 * 1024  # bytes of body sent as a stream


async def _retry_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def _rate(option: str, rate: float | None) -> float | None:
    if rate is not None and not is_seconds(rate):
        raise ConfigurationError(f"{option}: must be a positive number")
    return rate


class HttpOptions(TypedDict, total=False):
    """The options every `HttpGateway` takes; adapters accept them as
    ``**options: Unpack[HttpOptions]`` and configuration checks them by name."""

    session: aiohttp.ClientSession | None
    base_url: str | None
    timeout: float
    connect_timeout: float | None
    default_region: str | None
    retries: int
    retry_backoff: float
    requests_per_second: float | None
    messages_per_second: float | None
    rate_limiter: RateLimiter | None


class HttpGateway(BaseGateway):
    """Base for adapters over an HTTP JSON API.

    Subclasses set ``name`` and ``default_base_url``, override `auth_headers` and, where the
    provider has its own error shapes, `error_from_response`, and list their credentials in
    `secrets` so they are blanked out of every error.

    Args:
        session: an `aiohttp.ClientSession` to borrow; it is not closed by `aclose`. Without
            one, a session is made on first use and closed by `aclose`.
        base_url: the API root, e.g. a test host; defaults to the provider's production URL.
        timeout: seconds one try of a request may take, answer included.
        connect_timeout: seconds getting a connection may take, waiting for a free one
            included; shorter than ``timeout``, and by default a third of it, at most 10.
            A request that times out here provably sent nothing.
        default_region: the country national numbers are read in (``"GB"``).
        retries: how many times a failed request is tried again, when that cannot send a
            message twice (see `smsgate.retry`); 0 turns retrying off.
        retry_backoff: the first wait before a retry, in seconds; waits double, with jitter.
        requests_per_second: the most requests this gateway starts in a second.
        messages_per_second: the most messages it sends in a second (a batch counts each).
        rate_limiter: a `smsgate.ratelimit.RateLimiter` waited for before each try of a
            request that carries messages, with the SMS parts it carries: shared by every
            gateway given it (`LocalRateLimiter`), or by every process (`RedisRateLimiter`).

    Raises:
        ConfigurationError: a setting is invalid.
    """

    default_base_url: ClassVar[str] = ""
    announces_dispatch = True
    auth_advice: str | None = None
    """What an `AuthenticationError` tells the user to check, if not the generic advice."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        connect_timeout: float | None = None,
        default_region: str | None = None,
        retries: int = 2,
        retry_backoff: float = 0.5,
        requests_per_second: float | None = None,
        messages_per_second: float | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        super().__init__(default_region=default_region)
        url = checked_base_url(self.default_base_url if base_url is None else base_url)
        if not is_seconds(timeout):
            raise ConfigurationError("timeout: must be a positive number of seconds")
        if connect_timeout is None:
            connect_timeout = min(10.0, timeout / 3)
        elif not is_seconds(connect_timeout):
            raise ConfigurationError("connect_timeout: must be a positive number of seconds")
        if connect_timeout >= timeout:
            raise ConfigurationError("connect_timeout: must be shorter than timeout")
        self.base_url = url.rstrip("/")
        self._redactor: tuple[object, Redactor] | None = None
        self._headers: Headers | None = None
        # A connect timeout shorter than the total one means that any timeout before the
        # connection exists is aiohttp's ConnectionTimeoutError: nothing was sent.
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=connect_timeout)
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise ConfigurationError("session: must be an aiohttp.ClientSession to borrow")
        self._session = session
        self._owns_session = session is None
        if not is_whole(retries):
            raise ConfigurationError("retries: must be a whole number, 0 or more")
        if not is_seconds(retry_backoff):
            raise ConfigurationError("retry_backoff: must be a positive number of seconds")
        self.retry = RetryPolicy(attempts=retries + 1, backoff=retry_backoff)
        per_request = _rate("requests_per_second", requests_per_second)
        self._request_rate = None if per_request is None else AsyncLimiter(per_request, 1.0)
        per_message = _rate("messages_per_second", messages_per_second)
        self._message_rate = None if per_message is None else LocalRateLimiter(per_message)
        if rate_limiter is not None and not isinstance(rate_limiter, RateLimiter):
            raise ConfigurationError("rate_limiter: must have an async acquire(parts)")
        self.rate_limiter = rate_limiter

    # -- hooks for adapters ---------------------------------------------------------------

    async def auth_headers(self) -> Mapping[str, str]:
        """Headers that authenticate a request; the default sends none.

        While it returns the very same `SecretHeader` (`Secret.header` gives one), the
        headers of each request are built from it once, not on every request; from any other
        mapping they are built again for each request.
        """
        return NO_HEADERS

    def secrets(self) -> Iterable[str]:
        """Every credential value this gateway holds, to blank out of bodies and errors
        (values under six characters are left alone: they are no secret)."""
        return ()

    def secret_pairs(self) -> Iterable[tuple[str, str]]:
        """``(user, secret)`` pairs a server might echo as a Basic header (base64 of
        ``user:secret``)."""
        return ()

    def parts(self, messages: Iterable[Message]) -> int | None:
        """The SMS parts of ``messages``, for `request`'s ``parts`` when a ``rate_limiter``
        counts them; ``None`` (not counted) without one."""
        if self.rate_limiter is None:
            return None
        return parts_of(message.text for message in messages)

    def error_from_response(self, response: HttpResponse) -> ProviderError:
        """Turn an HTTP error answer into the right `ProviderError`.

        The default reads a JSON ``{"message": ...}`` body (or the text of any other body)
        and picks the class from the HTTP status (`smsgate.providers.codec`). Adapters
        override it with their codec's ``parse_error``, which reads their error codes.
        """
        answer = ErrorAnswer.read(response.status, response.headers, response.body)
        return provider_error(answer, provider=self.name, advice=self.auth_advice)

    # -- I/O -------------------------------------------------------------------------------

    def _client(self) -> aiohttp.ClientSession:
        self._ensure_open()
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        authenticate: bool = True,
        messages: int = 0,
        parts: int | None = None,
        keyed: bool = False,
        idempotent: bool | None = None,
    ) -> HttpResponse:
        """Make one request, retried as `smsgate.retry` allows, and return its 2xx answer.
        Redirects are not followed.

        Args:
            method: ``"GET"``, ``"POST"``, ``"DELETE"`` ...
            path: the path below ``base_url``, starting with ``/``.
            json_body: what to send as JSON, if anything (``bytes``: JSON encoded already).
            authenticate: whether to add `auth_headers` (``False`` for a token request).
            messages: how many messages the request sends, for ``messages_per_second``; a
                request that sends any is announced (`smsgate.gateway.announce_dispatch`)
                right before it leaves.
            parts: the SMS parts of those messages, for ``rate_limiter``; one a message by
                default (`smsgate.ratelimit.parts_of` counts them).
            keyed: whether it carries each message's idempotency key.
            idempotent: whether repeating it is harmless; by default GET and DELETE are.

        Raises:
            ValidationError: ``json_body`` cannot be encoded as JSON (nothing is sent).
            ProviderError: the provider answered with an HTTP error or a redirect (via
                `error_from_response`).
            TransportError: no answer, or one that could not be read in full.
        """
        data = self._encoded(json_body)
        # The first try is made here, without the retry machinery: most requests need no
        # other.
        try:
            return await self._attempt(method, path, data, authenticate, messages, parts, keyed)
        except Exception as error:
            failed = error
        # Retried outside the handler: a later failure is not chained to this one.
        return await self._retried(
            failed, method, path, data, authenticate, messages, parts, keyed, idempotent
        )

    def _encoded(self, json_body: Any) -> bytes | None:
        """The body of a request, checked before any try (a closed gateway and a body that
        is not JSON are no transient failures)."""
        self._ensure_open()
        if json_body is None or type(json_body) is bytes or isinstance(json_body, bytes):
            return json_body  # nothing, or encoded already
        try:
            return json.dumps(json_body, separators=(",", ":")).encode()
        except (TypeError, ValueError) as exc:
            raise ValidationError("provider_options", f"cannot be sent as JSON: {exc}") from exc

    async def _retried(
        self,
        failed: Exception,
        method: str,
        path: str,
        data: bytes | None,
        authenticate: bool,
        messages: int,
        parts: int | None,
        keyed: bool,
        idempotent: bool | None,
    ) -> HttpResponse:
        """After a first try that ``failed``: the tries `smsgate.retry` allows, or its error."""
        if idempotent is None:
            idempotent = method in IDEMPOTENT
        if not self.retry.worth_retrying(failed, idempotent=idempotent):
            raise failed

        async def attempt() -> HttpResponse:
            return await self._attempt(method, path, data, authenticate, messages, parts, keyed)

        return await self.retry.call(
            attempt, idempotent=idempotent, sleep=_retry_sleep, failed=failed, provider=self.name
        )

    async def _throttle(self, messages: int) -> None:
        if self._request_rate is not None:
            await self._request_rate.acquire()
        if self._message_rate is not None and messages:
            await self._message_rate.acquire(messages)

    async def _attempt(
        self,
        method: str,
        path: str,
        data: bytes | None,
        authenticate: bool,
        messages: int,
        parts: int | None,
        keyed: bool,
    ) -> HttpResponse:
        """One try: wait for the rate limits, announce a request that carries messages, make
        it, and read its answer in full (one coroutine: a single send's hot path)."""
        session = self._session
        if session is None or self._closed:
            session = self._client()  # made now, or refused: the gateway is closed
        if self._request_rate is not None or self._message_rate is not None:
            await self._throttle(messages)
        if messages and self.rate_limiter is not None:
            await self.rate_limiter.acquire(messages if parts is None else parts)
        if authenticate:
            auth = await self.auth_headers()
            made = self._headers
            if made is None or made.auth is not auth:
                made = Headers(auth)
                if type(auth) is SecretHeader:  # it cannot change: kept while it is the same
                    self._headers = made
            headers = made.with_body if data is not None else made.without_body
        else:
            headers = BODY_HEADERS if data is not None else HEADERS
        listener = dispatch_listener() if messages else None
        if listener is not None:
            await listener(True, keyed)
        url = self.base_url + path
        hooked = events.hooks
        started = time.time() if hooked or logger.isEnabledFor(logging.DEBUG) else 0.0
        status = 0
        try:
            # No redirects: a 307 would resend the message, and the token, elsewhere.
            async with session.request(
                method,
                url,
                # A large body as a stream: aiohttp warns that bytes this large may hold up
                # the event loop (a batch of thousands of long texts passes a megabyte).
                data=io.BytesIO(data) if data is not None and len(data) > _LARGE else data,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as answer:
                body = await answer.read()
                status, answer_headers = answer.status, answer.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            failure: GatewayError | None = self._transport_error(exc, method, url)
        else:
            failure = None
            if started:
                took = (time.time() - started) * 1000
                logger.debug("%s %s -> %d in %.1f ms", method, url, status, took)
            # HttpResponse(...) by its slots, without attrs' call per field (a request's
            # hot path).
            response = object.__new__(HttpResponse)
            set_status(response, status)
            set_headers(response, answer_headers)
            set_body(response, self.redactor.bytes(body))
            if status >= 300:
                try:
                    failure = self.error_from_response(response)
                except GatewayError as raised:  # an adapter's hook may raise its error too
                    failure = raised
        if hooked:
            events.attempted(self.name, method, url, messages, status or None, failure, started)
        if failure is None:
            return response
        if isinstance(failure, TransportError):
            # Raised out here, with no cause: aiohttp's exceptions carry the request's
            # headers (its Authorization) in their attributes and their repr.
            logger.debug("%s %s failed: %s", method, url, failure)
        if listener is not None and not failure.maybe_sent:
            await listener(False, False)
        raise failure

    @overload
    async def request_json(
        self,
        method: str,
        path: str,
        *,
        read: type[T] | Callable[[Any], T],
        json_body: Any = None,
        authenticate: bool = True,
        messages: int = 0,
        parts: int | None = None,
        keyed: bool = False,
        idempotent: bool | None = None,
    ) -> T: ...

    @overload
    async def request_json(
        self,
        method: str,
        path: str,
        *,
        read: None = None,
        json_body: Any = None,
        authenticate: bool = True,
        messages: int = 0,
        parts: int | None = None,
        keyed: bool = False,
        idempotent: bool | None = None,
    ) -> Any: ...

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        read: type[Any] | Callable[[Any], Any] | None = None,
        json_body: Any = None,
        authenticate: bool = True,
        messages: int = 0,
        parts: int | None = None,
        keyed: bool = False,
        idempotent: bool | None = None,
    ) -> Any:
        """Like `request`, and return the answer's JSON (``None`` for an empty body), read.

        Args:
            read: a wire class (an attrs class registered with `smsgate.providers._wire`)
                to read the answer as, or a codec function that reads it and raises
                `WireError` when it cannot; ``None`` returns the JSON as it is.
            json_body: JSON-ready data, or a wire class instance (written through the one
                converter).

        Raises:
            TransportError: a 2xx answer whose body is not JSON, or that ``read`` cannot
                read (``maybe_sent`` is true: the provider said yes, but not what it
                accepted).
        """
        if type(json_body) is not bytes and attrs.has(type(json_body)):  # a wire class
            json_body = write(json_body)
        # As `request` does (not a call of it: one coroutine less on every request).
        data = self._encoded(json_body)
        try:
            response = await self._attempt(method, path, data, authenticate, messages, parts, keyed)
        except Exception as error:
            failed: Exception | None = error
        else:
            failed = None
        if failed is not None:  # retried outside the handler, as in `request`
            response = await self._retried(
                failed, method, path, data, authenticate, messages, parts, keyed, idempotent
            )
        try:
            data = response.json()
        except ValueError as exc:
            raise self.unusable_answer(
                method, path, f"HTTP {response.status} with a body that is not JSON"
            ) from exc
        return data if read is None else self.read_answer(method, path, data, read)

    def read_answer(
        self, method: str, path: str, data: Any, read: type[T] | Callable[[Any], T]
    ) -> T:
        """Read the JSON of a success answer with ``read`` (a wire class or a codec function,
        as `request_json` takes), for an adapter that keeps the JSON too (``raw``).

        Raises:
            TransportError: ``read`` cannot read it (``maybe_sent``, as `unusable_answer`).
        """
        try:
            if isinstance(read, type) and attrs.has(read):
                return cast(T, read_as(data, read))
            parse = cast("Callable[[Any], T]", read)
            return parse(data)
        except WireError as exc:
            raise self.unusable_answer(method, path, f"an unexpected answer: {exc}") from exc

    def unusable_answer(self, method: str, path: str, problem: str) -> TransportError:
        """The error for a success answer that cannot be read: the provider said yes, but
        not to what, so the request may have taken effect (``maybe_sent``)."""
        return TransportError(
            f"answered {method} {path} with {self._redact_text(problem)}",
            provider=self.name,
            maybe_sent=True,
        )

    def _transport_error(self, exc: BaseException, method: str, url: str) -> TransportError:
        """Say what failed, and whether the request may have reached the provider.

        Only a failure to get a connection proves nothing was sent; anything later may have
        followed the request out. (aiohttp never resends a POST by itself.)
        """
        maybe_sent = True
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            what, maybe_sent = f"no connection within {self._timeout.connect:g} s", False
        elif isinstance(exc, aiohttp.ClientConnectorError):
            what, maybe_sent = "could not connect", False
        elif isinstance(exc, TimeoutError):
            what = f"no answer within {self._timeout.total:g} s"
        elif isinstance(exc, aiohttp.ClientPayloadError):
            what = "the answer was cut off"
        else:
            what = "the connection failed"
        cause = self._redact_text(str(exc) or type(exc).__name__)
        return TransportError(
            f"{method} {url}: {what} ({cause})", provider=self.name, maybe_sent=maybe_sent
        )

    def credentials_held(self) -> object:
        """What tells the credentials this gateway holds now from any it held before, so
        that what is made from them (its `redactor`) is made again only when they change.

        By default a fingerprint of every value of `secrets` and `secret_pairs`, taken on
        every request. An adapter that replaces its `Secret` objects when its credentials
        change (a fetched token) returns those objects instead, which costs nothing.
        """
        return hash((tuple(self.secrets()), tuple(self.secret_pairs())))

    @property
    def redactor(self) -> Redactor:
        """Blanks every credential this gateway holds, in every form a server may echo."""
        held = self.credentials_held()
        made = self._redactor
        if made is None or (made[0] is not held and made[0] != held):
            made = self._redactor = (held, Redactor(self.secrets(), self.secret_pairs()))
        return made[1]

    def _redact_text(self, text: str) -> str:
        return self.redactor.text(text)

    async def aclose(self) -> None:
        """Close the session if this gateway made it; a borrowed one is left open."""
        await super().aclose()
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return f"<{type(self).__name__} {self.name!r} {self.base_url}{state}>"
