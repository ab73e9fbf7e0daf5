"""Retrying requests without ever sending a message twice.

A send is tried again only when its failure proves that the provider accepted nothing
(`smsgate.errors.may_have_sent` is false) and trying again may work; a request that is
idempotent (asking for a status, cancelling) is also tried again after a failure that may
have reached the provider:

================================================  ===============  ================
failure                                           send, schedule   status, cancel
================================================  ===============  ================
no connection (``TransportError``, not sent)      retried          retried
no answer after the request left (maybe sent)     **not retried**  retried
``RateLimited`` (429), ``Retry-After`` honoured   retried          retried
an error the provider documents as "try again"    retried          retried
other 5xx (``ProviderUnavailable``, maybe sent)   **not retried**  retried
anything else                                     not retried      not retried
================================================  ===============  ================

Waits grow exponentially with full jitter, and a ``Retry-After`` is honoured when it is not
longer than ``max_retry_after`` (a longer one gives up at once).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_random_exponential

from smsgate import events
from smsgate.errors import (
    GatewayError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    TransportError,
)

__all__ = ["RetryPolicy", "set_testing", "should_retry"]

T = TypeVar("T")

logger = logging.getLogger("smsgate.retry")

_testing = False


def set_testing(testing: bool = True) -> None:
    """Turn retrying off (``True``) or back on everywhere, for your own tests: a failure then
    reaches the caller at once, after exactly one request."""
    global _testing
    _testing = testing


def should_retry(error: BaseException, *, idempotent: bool) -> bool:
    """Whether a request that failed with ``error`` may be made again."""
    if not isinstance(error, GatewayError):
        return False
    transient = isinstance(error, TransportError) or (
        isinstance(error, ProviderError) and error.retryable
    )
    if idempotent:
        return transient or isinstance(error, ProviderUnavailable)
    return transient and not error.maybe_sent


@attrs.frozen
class RetryPolicy:
    """How often, and how patiently, a gateway retries.

    Attributes:
        attempts: tries in all; 1 turns retrying off.
        backoff: the first wait in seconds; each wait is random up to double the last.
        max_backoff: the longest wait between tries, in seconds.
        max_retry_after: the longest ``Retry-After`` to wait for; a longer one gives up.
    """

    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 10.0
    max_retry_after: float = 60.0

    def _retryable(self, idempotent: bool) -> Callable[[BaseException], bool]:
        def check(error: BaseException) -> bool:
            if not should_retry(error, idempotent=idempotent):
                return False
            wait = getattr(error, "retry_after", None) if isinstance(error, RateLimited) else None
            return wait is None or wait <= self.max_retry_after

        return check

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return error.retry_after
        return float(wait_random_exponential(self.backoff, self.max_backoff)(state))

    def _log_retry(self, provider: str | None, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "try %d of %d failed, trying again in %.2f s: %s",
            state.attempt_number,
            self.attempts,
            wait,
            error,
        )
        if events.hooks:
            events.emit(events.Retry(provider, state.attempt_number, self.attempts, wait, error))

    def worth_retrying(self, error: Exception, *, idempotent: bool) -> bool:
        """Whether a first try that failed with ``error`` is to be tried again."""
        return not _testing and self.attempts >= 2 and self._retryable(idempotent)(error)

    async def call(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        idempotent: bool,
        sleep: Callable[[float], Awaitable[None]],
        failed: Exception | None = None,
        provider: str | None = None,
    ) -> T:
        """Run ``attempt`` until it succeeds, fails for good, or the tries run out.

        ``failed``: the error of a first try the caller made itself (`worth_retrying` it);
        the tries go on from there. ``provider``: the gateway's name, for `Retry` events.
        """
        # Most requests succeed at once: try without the retry machinery (about 25 us a
        # call), and hand over to tenacity only after a failure worth retrying.
        if failed is None:
            try:
                return await attempt()
            except Exception as error:
                if not self.worth_retrying(error, idempotent=idempotent):
                    raise
                failed = error
        first_failure: Exception | None = failed

        async def again() -> T:
            nonlocal first_failure
            if first_failure is not None:  # replayed as tenacity's first attempt
                failure, first_failure = first_failure, None
                raise failure
            return await attempt()

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_exception(self._retryable(idempotent)),
            sleep=sleep,
            reraise=True,
            before_sleep=functools.partial(self._log_retry, provider),
        )
        async for try_ in retrying:
            with try_:
                return await again()
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover
