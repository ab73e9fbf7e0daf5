"""What every provider's codec shares, with no I/O: checking a message's provider options,
and reading HTTP error answers (what each codec's ``parse_error`` stands on).

`ErrorAnswer` decodes a body once (JSON if it is JSON, else its text); `provider_error` picks
the `ProviderError` class from the HTTP status unless the codec knows better, and attaches
what every such error carries: the status, the body, ``retry_after`` for a 429, and advice
for a 401. A codec reads its own error vocabulary and hands the rest to it::

    def parse_error(status, headers, body, *, advice=None):
        answer = ErrorAnswer.read(status, headers, body)
        return provider_error(answer, provider="acme", detail=answer.field("error"), advice=advice)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import EllipsisType
from typing import Any

import attrs

from smsgate.errors import (
    AuthenticationError,
    ProviderError,
    RateLimited,
    ValidationError,
    error_class_for_status,
)
from smsgate.model import Message

__all__ = ["ErrorAnswer", "parse_retry_after", "provider_error", "provider_options"]


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@attrs.frozen
class ErrorAnswer:
    """An HTTP error answer, its body decoded once.

    Attributes:
        status: the HTTP status.
        headers: the answer's headers.
        data: the body as JSON, or ``None`` when it is empty or not JSON.
        text: the body as text (invalid UTF-8 replaced).
    """

    status: int
    headers: Mapping[str, str]
    data: Any
    text: str

    @classmethod
    def read(cls, status: int, headers: Mapping[str, str], body: bytes) -> ErrorAnswer:
        """Decode ``body``: JSON when it is JSON, and its text either way."""
        try:
            data = json.loads(body) if body.strip() else None
        except ValueError:
            data = None
        return cls(status, headers, data, body.decode("utf-8", errors="replace"))

    @property
    def body(self) -> Any:
        """What an error keeps as its ``body``: the JSON, or else the text."""
        return self.text if self.data is None else self.data

    def field(self, name: str) -> Any:
        """A field of a JSON object body, or ``None``."""
        return self.data.get(name) if isinstance(self.data, dict) else None

    def message(self) -> str | None:
        """A non-empty ``message`` string of the body, if it has one."""
        message = self.field("message")
        return message if isinstance(message, str) and message else None


def provider_error(
    answer: ErrorAnswer,
    *,
    provider: str,
    error_class: type[ProviderError] | None = None,
    detail: str | EllipsisType | None = ...,
    advice: str | None = None,
    **fields: Any,
) -> ProviderError:
    """The `ProviderError` an error answer stands for.

    Args:
        answer: the answer.
        provider: the provider's name.
        error_class: the class, when the codec knows it from the provider's own error code;
            by default it follows the HTTP status (`smsgate.errors.error_class_for_status`).
        detail: the provider's words (``None``: none); by default its ``message``, else the
            body's text.
        advice: what to check, for an `AuthenticationError`.
        **fields: the class's other keywords (``code``, ``reason``, ``permanent`` ...).
    """
    cls = error_class or error_class_for_status(answer.status)
    if detail is ...:
        detail = answer.message() or answer.text or None
    if cls is RateLimited:
        fields["retry_after"] = parse_retry_after(answer.headers.get("Retry-After"))
    if cls is AuthenticationError and advice is not None:
        fields["advice"] = advice
    return cls(detail, provider=provider, http_status=answer.status, body=answer.body, **fields)


def provider_options(message: Message, provider: str, known: Mapping[str, type]) -> dict[str, Any]:
    """The options ``message`` carries for ``provider``, checked against ``known`` types.

    Raises:
        ValidationError: an option the provider does not have, or of the wrong type.
    """
    given = message.provider_options.get(provider)
    if not given:
        return {}
    options = dict(given)
    for name, value in options.items():
        kind = known.get(name)
        if kind is None:
            raise ValidationError(
                "provider_options",
                f"{provider} has no option {name!r}; it knows {', '.join(sorted(known))}",
            )
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ValidationError(
                "provider_options", f"{provider} option {name!r} must be a {kind.__name__}"
            )
    return options
