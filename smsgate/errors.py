"""Every exception smsgate raises, under one root.

::

    SmsGateError
    ├── ConfigurationError           missing or invalid settings, unknown provider
    ├── ValidationError (ValueError) bad input, raised before any request
    ├── UnsupportedFeature           the provider cannot express what was asked
    ├── RecipientSuppressed          the recipient opted out: refused before any request
    ├── StatusTimeout (TimeoutError) no final status in time (in `smsgate.tracking`)
    └── GatewayError                 talking to a provider went wrong (``maybe_sent``)
        ├── ProviderError            the provider answered with an error
        │   ├── AuthenticationError  401: the credentials were refused
        │   ├── PermissionDenied     403: the account may not do this
        │   ├── InsufficientCredit   402: top up the account
        │   ├── InvalidRequest       400 / 422: the provider refused the input
        │   ├── NotFound             404: no such message or batch
        │   ├── RateLimited          429: slow down (``retry_after``)
        │   └── ProviderUnavailable  5xx: the provider is failing
        ├── TransportError           no usable answer
        ├── KeyConflict              more than one message carries an idempotency key
        └── Unresolved               an uncertain send was looked up and not found

Errors from aiohttp and from JSON decoding never reach callers: the HTTP base translates
them in one place. No error message carries a token, key, secret or password.

**What a failed send means** is decided once, here, by `GatewayError.maybe_sent` (read it
through `may_have_sent`): retries, failover, bulk outcomes and the command line's exit code
all ask it. A failure proves that the provider took nothing only when:

- no connection could be had (refused, or none within ``connect_timeout``): nothing left;
- the provider answered 4xx (400, 401, 402, 403, 404, 422, 429 ...): it refused the request;
- the provider answered with an error it documents as "not accepted" (The SMS Works' 5001,
  rejected and not charged, and 5002, not scheduled, "please try again").

Anything else may have been taken: a timeout or a reset after the request left, an answer cut
off or unreadable, a redirect, and **any other 5xx** (500, 502, 503, 504), because a provider,
or the load balancer in front of it, can store a message and then fail to say so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from smsgate.status import FailureReason

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "GatewayError",
    "InsufficientCredit",
    "InvalidRequest",
    "KeyConflict",
    "NotFound",
    "PermissionDenied",
    "ProviderError",
    "ProviderUnavailable",
    "RateLimited",
    "RecipientSuppressed",
    "SmsGateError",
    "TransportError",
    "Unresolved",
    "UnsupportedFeature",
    "ValidationError",
    "error_class_for_status",
    "may_have_sent",
]

_EXCERPT_CHARS = 200


class SmsGateError(Exception):
    """The root of every error smsgate raises."""


class ConfigurationError(SmsGateError):
    """Settings are missing or invalid, or the provider is unknown.

    The message lists what is valid; it never repeats an option's value, which may be a secret.
    """


class ValidationError(SmsGateError, ValueError):
    """Input that cannot be sent, found before any request is made.

    Attributes:
        field: the name of the offending field (``"to"``, ``"text"``, ``"at"`` ...).
        problem: what is wrong with it, in words.
        rule: the rule it broke, without repeating the value given: what a
            `ConfigurationError` made from it says, since a setting may hold a secret.
    """

    def __init__(self, field: str, problem: str, *, rule: str | None = None) -> None:
        self.field = field
        self.problem = problem
        self.rule = problem if rule is None else rule
        super().__init__(f"{field}: {problem}")


class UnsupportedFeature(SmsGateError):
    """The provider cannot express what was asked (for example a per-message option it lacks)."""

    def __init__(self, provider: str, feature: str, hint: str = "") -> None:
        self.provider = provider
        self.feature = feature
        text = f"{provider} does not support {feature}"
        super().__init__(f"{text}; {hint}" if hint else text)


class RecipientSuppressed(SmsGateError):
    """The recipient is on a suppression list (they opted out): the message was refused
    before any request, and nothing was sent (`smsgate.suppression`).

    Attributes:
        to: the recipient's number.
    """

    def __init__(self, to: str) -> None:
        self.to = to
        super().__init__(f"{to} opted out (a suppression list holds the number): not sent")

    def __reduce__(self) -> tuple[type[RecipientSuppressed], tuple[str]]:
        return type(self), (self.to,)


class GatewayError(SmsGateError):
    """Talking to a provider went wrong.

    Attributes:
        provider: the registered name of the provider (``"smsworks"`` ...).
        maybe_sent: for a send, whether the provider may have taken the message. ``False``
            only when the failure proves it took nothing (see the module's docstring); then
            sending it again cannot text anyone twice. ``True``: do not send it again
            blindly; look it up (``gateway.find``) or check its status first.
    """

    def __init__(self, message: str, *, provider: str, maybe_sent: bool = True) -> None:
        self.provider = provider
        self.maybe_sent = maybe_sent
        super().__init__(message)


class ProviderError(GatewayError):
    """The provider answered, and the answer was an error.

    Attributes:
        http_status: the HTTP status of the answer (``None`` when the error was in a 2xx body).
        code: the provider's own error code, if it gave one (``4021``, ``"phone_numbers"`` ...).
        detail: the provider's error message, if it gave one.
        reason: why, in provider-neutral terms.
        permanent: sending the same request again will fail the same way.
        retryable: the provider has accepted nothing, and documents that trying again may work.
        maybe_sent: whether a send that got this answer may have been taken: by default
            ``False`` for a 4xx answer or a ``retryable`` one, ``True`` for any other (a 5xx,
            a redirect).
        body: the raw answer (parsed JSON when it was JSON, else text), for diagnostics.
        advice: what to do next, ending the message; each class has a default.
    """

    default_permanent: ClassVar[bool] = True
    default_retryable: ClassVar[bool] = False
    default_maybe_sent: ClassVar[bool | None] = None
    """``None``: decided by the HTTP status (only a 4xx proves nothing was taken)."""
    default_reason: ClassVar[FailureReason] = FailureReason.PROVIDER_ERROR
    default_advice: ClassVar[str] = "check the request and the provider's answer"

    def __init__(
        self,
        detail: str | None = None,
        *,
        provider: str,
        http_status: int | None = None,
        code: int | str | None = None,
        reason: FailureReason | None = None,
        permanent: bool | None = None,
        retryable: bool | None = None,
        maybe_sent: bool | None = None,
        body: Any = None,
        advice: str | None = None,
    ) -> None:
        self.http_status = http_status
        self.code = code
        self.detail = detail
        self.reason = self.default_reason if reason is None else reason
        self.permanent = self.default_permanent if permanent is None else permanent
        self.retryable = self.default_retryable if retryable is None else retryable
        if maybe_sent is None:
            # "Retryable" means the provider documents that it took nothing.
            maybe_sent = False if self.retryable else self.default_maybe_sent
        if maybe_sent is None:
            maybe_sent = http_status is None or not 400 <= http_status < 500
        self.body = body
        self.advice = self._advice(maybe_sent) if advice is None else advice
        super().__init__(self._describe(provider), provider=provider, maybe_sent=maybe_sent)

    def _advice(self, maybe_sent: bool) -> str:
        return self.default_advice

    def _describe(self, provider: str) -> str:
        parts = [f"{provider} answered"]
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.code is not None:
            parts.append(f"error {self.code}")
        said = f": {_excerpt(self.detail)}" if self.detail else ""
        return f"{' '.join(parts)}{said} ({self.advice})"


class AuthenticationError(ProviderError):
    """401: the provider refused the credentials."""

    default_maybe_sent = False

    default_advice = "check the token, or the key and secret it was made from"


class PermissionDenied(ProviderError):
    """403: the credentials are valid, but the account may not do this."""

    default_maybe_sent = False
    default_reason = FailureReason.ACCOUNT
    default_advice = "check the account's permissions and status with the provider"


class InsufficientCredit(ProviderError):
    """402: the account has too little credit to send."""

    default_maybe_sent = False
    default_reason = FailureReason.INSUFFICIENT_CREDIT
    default_advice = "top up the account"


class InvalidRequest(ProviderError):
    """400 or 422: the provider refused the input.

    Attributes:
        errors: per-field messages, when the provider gave them (``{"phone_numbers": [...]}``).
    """

    default_maybe_sent = False
    default_reason = FailureReason.INVALID_REQUEST
    default_advice = "fix the input named above; sending it again unchanged will fail again"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Mapping[str, Sequence[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        self.errors: dict[str, list[str]] = {k: list(v) for k, v in (errors or {}).items()}
        if detail is None and self.errors:
            detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in self.errors.items())
        super().__init__(detail, **kwargs)


class NotFound(ProviderError):
    """404: the provider knows no such message or batch."""

    default_maybe_sent = False
    default_advice = "check the id; it may belong to another account or provider"


class RateLimited(ProviderError):
    """429: too many requests. Nothing was accepted; wait ``retry_after`` seconds and retry.

    Attributes:
        retry_after: seconds to wait, from the ``Retry-After`` header, if the provider sent one.
    """

    default_permanent = False
    default_retryable = True
    default_maybe_sent = False
    default_advice = "slow down and retry later"

    def __init__(
        self, detail: str | None = None, *, retry_after: float | None = None, **kwargs: Any
    ) -> None:
        self.retry_after = retry_after
        super().__init__(detail, **kwargs)


class ProviderUnavailable(ProviderError):
    """5xx: the provider is failing.

    A send that got one may have been taken (``maybe_sent``), unless the provider documents
    that this answer means it took nothing; ``retryable`` says whether it documents trying
    again.
    """

    default_permanent = False
    default_maybe_sent = True

    def _advice(self, maybe_sent: bool) -> str:
        if maybe_sent:
            return "it may have taken the message; check before sending it again"
        if self.retryable:
            return "the provider took nothing; try again later"
        return "the provider took nothing and sent nothing"


class TransportError(GatewayError):
    """No usable answer came back: the connection failed, timed out, or the answer was unreadable.

    Attributes:
        maybe_sent: ``False`` only when the request provably never left (the connection never
            opened). ``True`` means the provider may have accepted it: do not send it again
            blindly, check its status first.
    """

    def __init__(self, message: str, *, provider: str, maybe_sent: bool) -> None:
        advice = (
            "the provider may have accepted it; check before sending again"
            if maybe_sent
            else "nothing was sent; it is safe to try again"
        )
        super().__init__(
            f"{provider}: {message} ({advice})", provider=provider, maybe_sent=maybe_sent
        )


class KeyConflict(GatewayError):
    """Looking a message up by its idempotency key found more than one message, or one that
    is not the message looked for: the key was reused, or the message went out twice.

    Attributes:
        key: the idempotency key.
        reports: what the provider holds under it.
    """

    def __init__(self, key: str, reports: Sequence[Any], *, provider: str, problem: str) -> None:
        self.key = key
        self.reports = list(reports)
        super().__init__(
            f"{provider}: {problem} under idempotency key {key!r}; look at them before "
            "sending again",
            provider=provider,
        )


class Unresolved(GatewayError):
    """An uncertain send was looked up by its idempotency key and not found.

    The provider may still log it later, or it may never have arrived: smsgate never sends
    it again by itself. Decide, or look it up again later (``gateway.find``).

    Attributes:
        key: the idempotency key that was looked for.
        waited: seconds spent looking.
    """

    def __init__(
        self, key: str, *, provider: str, waited: float, problem: str = "not found"
    ) -> None:
        self.key = key
        self.waited = waited
        super().__init__(
            f"{provider}: the message with idempotency key {key!r}: {problem} after "
            f"{waited:.0f} s of looking; it may not have arrived, or may not be logged yet: "
            "decide before sending it again",
            provider=provider,
        )


_CLASS_BY_STATUS: dict[int, type[ProviderError]] = {
    400: InvalidRequest,
    401: AuthenticationError,
    402: InsufficientCredit,
    403: PermissionDenied,
    404: NotFound,
    422: InvalidRequest,
    429: RateLimited,
}


def error_class_for_status(http_status: int) -> type[ProviderError]:
    """The `ProviderError` subclass that an HTTP error status stands for."""
    if http_status >= 500:
        return ProviderUnavailable
    return _CLASS_BY_STATUS.get(http_status, ProviderError)


def may_have_sent(error: BaseException) -> bool:
    """Whether a send that failed with ``error`` may have been taken by the provider.

    This is the one rule that retries, failover, bulk outcomes and the command line ask:
    `GatewayError.maybe_sent` for errors from talking to a provider; ``False`` for smsgate's
    other errors, which are raised before any request; ``True`` for anything else (a bug in
    an adapter: whether its request left is unknown).
    """
    if isinstance(error, GatewayError):
        return error.maybe_sent
    return not isinstance(error, SmsGateError)


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT_CHARS else text[: _EXCERPT_CHARS - 1] + "…"
