"""What `smsgate.providers.base.HttpGateway` sends and reads on every request: its headers,
and the answer, read in full (`HttpResponse`)."""

from __future__ import annotations

import json
import json.scanner
import platform
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, cast

import aiohttp
import attrs

from smsgate._version import __version__
from smsgate.model import slot_setters

__all__ = [
    "BODY_HEADERS",
    "HEADERS",
    "IDEMPOTENT",
    "NO_HEADERS",
    "USER_AGENT",
    "Headers",
    "HttpResponse",
    "set_body",
    "set_headers",
    "set_status",
]

USER_AGENT = (
    f"smsgate/{__version__} aiohttp/{aiohttp.__version__} python/{platform.python_version()}"
)


@attrs.frozen
class HttpResponse:
    """An HTTP answer, read in full, with every known secret already blanked out of its body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or ``None`` when it is empty.

        Raises:
            ValueError: the body is not JSON.
        """
        body = self.body
        try:
            # The usual answer: UTF-8, a JSON value from its first character, read by the
            # scanner json.loads runs; after it nothing but JSON's white space.
            text = body.decode()
            value, end = _scan_json(text, 0)
            if end == len(text) or not text[end:].strip(" \t\n\r"):
                return value
        except (ValueError, StopIteration):  # not that: json.loads says what it is
            pass
        return json.loads(body) if body.strip() else None

    def text(self) -> str:
        """The body as text, for error messages."""
        return self.body.decode("utf-8", errors="replace")


set_status, set_headers, set_body = slot_setters(HttpResponse)
"""The setters of HttpResponse's slots, in field order: a request's answer is made by them."""
# What JSONDecoder.raw_decode runs (its scan_once), without the matches for white space
# that decode adds around it.
_scan_json: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    cast(Any, json.JSONDecoder())
)
IDEMPOTENT = frozenset({"GET", "HEAD", "DELETE"})
HEADERS = {"User-Agent": USER_AGENT, "Accept": "application/json"}
NO_HEADERS: Mapping[str, str] = MappingProxyType({})
BODY_HEADERS = {**HEADERS, "Content-Type": "application/json"}


class Headers:
    """A request's headers, with and without a JSON body, made from the mapping
    `HttpGateway.auth_headers` returned; kept while it returns that very `SecretHeader` (as
    the built-in adapters do). Shows nothing of them: they hold a credential."""

    __slots__ = ("auth", "with_body", "without_body")

    def __init__(self, auth: Mapping[str, str]) -> None:
        self.auth = auth
        self.with_body = {**BODY_HEADERS, **auth}
        self.without_body = {**HEADERS, **auth}

    def __repr__(self) -> str:
        return "<headers>"
