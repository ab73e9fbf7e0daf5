"""Rate limits counted in SMS parts, in one process or shared by many.

Providers bill and throttle by SMS part, not by message: a 300-character text is two parts
(`smsgate.encoding.segments`). A `RateLimiter` is awaited before each try of a request that
carries messages, with the parts it carries (`HttpGateway`'s ``rate_limiter`` option):

- `LocalRateLimiter` holds the limit in this process (aiolimiter's leaky bucket);
- `RedisRateLimiter` holds it in Redis, for every process and machine that names the same
  key: ten workers sharing 50 parts a second send 50 parts a second between them.

>>> import asyncio
>>> limiter = LocalRateLimiter(50)
>>> asyncio.run(limiter.acquire(3))  # three parts: at once, the bucket holds 50
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from aiolimiter import AsyncLimiter

from smsgate.checks import is_seconds
from smsgate.encoding import segments
from smsgate.errors import ConfigurationError, TransportError

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["LocalRateLimiter", "RateLimiter", "RedisRateLimiter", "parts_of"]


@runtime_checkable
class RateLimiter(Protocol):
    """Something to wait for before sending ``parts`` SMS parts."""

    async def acquire(self, parts: int = 1) -> None:
        """Return when ``parts`` more parts may be sent.

        Raises:
            TransportError: the limit cannot be read (``maybe_sent`` false: nothing was sent).
        """


def parts_of(texts: Iterable[str]) -> int:
    """The SMS parts of ``texts`` together (each at least one).

    >>> parts_of(["Hi", "x" * 161])
    3
    """
    # A text of up to 35 characters fits one part in either alphabet (70 UTF-16 units).
    return sum(1 if len(text) <= 35 else segments(text).parts for text in texts)


def _checked(rate: object, period: object, burst: object) -> tuple[float, float, float]:
    if not is_seconds(rate):
        raise ConfigurationError("rate: must be a positive number of parts")
    if not is_seconds(period):
        raise ConfigurationError("period: must be a positive number of seconds")
    if burst is None:
        burst = rate
    elif not is_seconds(burst):
        raise ConfigurationError("burst: must be a positive number of parts")
    return float(rate), float(period), float(burst)


class LocalRateLimiter:
    """At most ``rate`` parts every ``period`` seconds, in this process (every gateway given
    this object shares it).

    Args:
        rate: parts a period.
        period: seconds.

    Raises:
        ConfigurationError: a number is not positive.
    """

    def __init__(self, rate: float, period: float = 1.0) -> None:
        rate, period, _ = _checked(rate, period, None)
        self._limiter = AsyncLimiter(rate, period)

    async def acquire(self, parts: int = 1) -> None:
        left = float(parts)
        while left > 0:  # aiolimiter takes at most its rate at once
            piece = min(left, self._limiter.max_rate)
            await self._limiter.acquire(piece)
            left -= piece

    def __repr__(self) -> str:
        limiter = self._limiter
        return f"<LocalRateLimiter {limiter.max_rate:g} parts / {limiter.time_period:g} s>"


# GCRA (the generic cell rate algorithm) with reservations, in one atomic step on the
# server's clock: a request of n parts moves the limit's "theoretical arrival time" (TAT) n
# intervals on from the later of itself and now, and must wait until that time less the
# burst allowance. Every caller is told how long to wait; none polls.
_RESERVE = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000000 + tonumber(now[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
tat = tat + tonumber(ARGV[1]) * tonumber(ARGV[3])
local wait = tat - tonumber(ARGV[2]) - now
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
if wait < 0 then return 0 end
return math.ceil(wait)
"""


class RedisRateLimiter:
    """At most ``rate`` parts every ``period`` seconds across every process, on any machine,
    that uses the same ``key`` on the same Redis (``pip install "smsgate[redis]"``).

    One round trip a request: a Lua script reserves the parts on Redis's own clock (no clock
    of the workers is trusted) and answers how long to wait, so a limit shared by many
    workers is kept without polling. A wait cancelled part way leaves its parts reserved:
    the limit errs on the side of sending less.

    Args:
        redis: a ``redis.asyncio.Redis`` client (the caller closes it), or a URL such as
            ``"redis://127.0.0.1:6379/0"`` (closed by `aclose`).
        key: the limit's name; every worker of one provider account uses the same.
        rate: parts a period.
        period: seconds.
        burst: parts that may go at once after a quiet spell; ``rate`` by default.

    Raises:
        ConfigurationError: a number is not positive, the key is empty, or redis-py is not
            installed.
    """

    def __init__(
        self,
        redis: Any,
        key: str,
        rate: float,
        *,
        period: float = 1.0,
        burst: float | None = None,
    ) -> None:
        rate, period, burst = _checked(rate, period, burst)
        if not isinstance(key, str) or not key:
            raise ConfigurationError("key: give the limit a name")
        try:
            import redis.asyncio as aioredis
        except ImportError:  # pragma: no cover - the extra is part of [dev]
            raise ConfigurationError(
                'RedisRateLimiter needs redis-py: pip install "smsgate[redis]"'
            ) from None
        self._owned = isinstance(redis, str)
        self._redis = aioredis.Redis.from_url(redis) if isinstance(redis, str) else redis
        self._errors: tuple[type[BaseException], ...] = (aioredis.RedisError, OSError)
        self.key = key
        self._interval = period / rate * 1_000_000  # µs a part
        self._allowance = self._interval * burst
        self._rate, self._period = rate, period
        self._reserve = self._redis.register_script(_RESERVE)

    async def acquire(self, parts: int = 1) -> None:
        try:
            wait = await self._reserve(
                keys=[self.key], args=[self._interval, self._allowance, parts]
            )
        except self._errors as exc:
            raise TransportError(
                f"the shared rate limit {self.key!r} could not be read: {exc}",
                provider="redis",
                maybe_sent=False,
            ) from None
        if wait:
            await asyncio.sleep(int(wait) / 1_000_000)

    async def aclose(self) -> None:
        """Close the Redis client if this limiter made it from a URL."""
        if self._owned:
            await self._redis.aclose()

    def __repr__(self) -> str:
        return f"<RedisRateLimiter {self.key!r} {self._rate:g} parts / {self._period:g} s>"
