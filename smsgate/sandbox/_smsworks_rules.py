"""The SMS Works' rules, as its developer guide and OpenAPI spec state them, for the emulator:
error answers, destinations, credits, dates and the shapes of its requests. They are written
from the documents, not imported from the adapter: an emulator that shared the client's
checks could not catch a mistake in them. The price rule (a credit a part, double outside the
UK) is the one exception: it is `smsgate.pricing.PRICING`'s, which `smsgate.estimate` prices
by too. Parts are counted here as the documents say ("1 credit for each 153 characters");
the estimate counts them as handsets receive them (an escape or a surrogate pair is never
split between parts), so at a part's edge an estimate can be one part more than this
charge, never fewer.

Every error answer is the spec's ExtendedErrorModel, ``{message, errorCode, status,
permanent}``, with ``status`` a string (the HTTP status, ``"400"``), which also satisfies the
ErrorModel that some operations declare. The guide's codes are used where it has one (4002
... 4021, 5001, 5002); where it has none the emulator answers its own, which no client
should act on: 4000 for any other bad request, 4040 for an unknown message, batch or path,
4050 for a method a path does not take, 5010 for an endpoint it does not emulate, and ten
times the HTTP status for what the web server refuses by itself (4130: a body too large).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from smsgate.checks import is_whole
from smsgate.errors import ValidationError
from smsgate.model import normalize_number
from smsgate.pricing import PRICING
from smsgate.sandbox._gsm import sms_parts
from smsgate.sandbox._jsdate import read_js_date

__all__ = [
    "BAD_METHOD",
    "BAD_REQUEST",
    "LONDON",
    "NOT_EMULATED",
    "NOT_FOUND",
    "PRICES",
    "SAMPLE_ERRORS",
    "Refusal",
    "charge",
    "count",
    "date",
    "destination",
    "error",
    "fields",
    "pairs",
    "read_date",
    "read_json",
]

LONDON = ZoneInfo("Europe/London")
"""The server's own time zone: a date written without an offset is read in it."""
BAD_REQUEST, NOT_FOUND, BAD_METHOD, NOT_EMULATED = 4000, 4040, 4050, 5010
SENDER = re.compile(r"[A-Za-z0-9]{3,11}|[0-9]{1,15}")
MAX_CONTENT = 640  # the guide's limit; the spec's is 1280: the stricter one is kept
MAX_TAG = 20  # the guide's limit; the spec's is 280


SAMPLE_ERRORS = {
    4001: (400, "Message contains invalid characters", True),
    4002: (400, "Message is too long", True),
    4003: (400, "SenderID is too long", True),
    4004: (400, "Invalid destination number", True),
    4005: (400, "Tag longer than 20 characters", True),
    4006: (400, "Message contains profanity", True),
    4007: (400, "Message contains blocked terms. Account disabled", True),
    4011: (401, "Not authenticated", True),
    4021: (402, "Insufficient credit to send message", True),
    4031: (403, "Not authorised", True),
    4032: (403, "Account not found", True),
    4033: (403, "Account disabled", True),
    4034: (403, "This account is not enabled for international SMS. Cannot send message", True),
    5001: (503, "SMS Message Rejected", True),
    5002: (503, "Service database error. Please try again.", False),
}
"""The guide's error codes, for ``GET /utils/errors/{code}``: HTTP status, message, and
whether it is permanent."""


class Refusal(Exception):
    """An error answer: its HTTP status, error code, message and whether it is permanent."""

    def __init__(self, http: int, code: int, message: str, permanent: bool = True) -> None:
        super().__init__(message)
        self.http, self.code, self.message, self.permanent = http, code, message, permanent


def error(refusal: Refusal, headers: dict[str, str] | None = None) -> web.Response:
    """The ExtendedErrorModel answer of ``refusal``."""
    body = {
        "message": refusal.message,
        "errorCode": refusal.code,
        "status": str(refusal.http),
        "permanent": refusal.permanent,
    }
    return web.json_response(body, status=refusal.http, headers=headers)


def destination(written: Any) -> str:
    """A destination as the guide asks for it, in E.164: UK ``07...`` or international
    digits with the country code (``447...``, ``33...``), never ``+`` nor ``00``.

    Raises:
        Refusal: 400, error 4004.
    """
    invalid = Refusal(400, 4004, "Invalid destination number")
    if not isinstance(written, str) or not written.isascii() or not written.isdigit():
        raise invalid
    if written.startswith("00"):
        raise invalid
    try:
        return normalize_number(written if written.startswith("0") else "+" + written, "GB")
    except ValidationError:
        raise invalid from None


PRICES = PRICING["smsworks"]
"""1 credit a part, double outside the UK (the guide's Credit charges)."""


def charge(content: str, to: str) -> tuple[int, float]:
    """``(parts, credits)`` of a message: 1 credit a part, double outside the UK (`PRICES`).

    Parts follow the spec (160 GSM characters in one, else 153 a part) and the notes for
    other text (70, else 67 a part); the guide says 160 and 70 a credit. Where the documents
    disagree the emulator charges the larger amount, so that what the sandbox can afford is
    never short of credits live.
    """
    parts = sms_parts(content)
    return parts, PRICES.credits(to, parts)


def read_date(written: Any) -> datetime | None:
    """A date as the server reads one, with JavaScript's ``new Date()`` in Europe/London
    (`smsgate.sandbox._jsdate`); ``None`` when that gives an invalid date."""
    if not isinstance(written, str):
        return None
    return read_js_date(written, LONDON)


def date(written: Any, field: str) -> datetime:
    """`read_date`, refusing what it cannot read.

    Raises:
        Refusal: 400, error 4000.
    """
    when = read_date(written)
    if when is None:
        raise Refusal(400, BAD_REQUEST, f"{field} must be a date")
    return when


def pairs(given: Any, field: str) -> list[dict[str, str]] | None:
    """Metadata as the spec writes it: an array of ``{key, value}`` strings."""
    if given is None:
        return None
    if not isinstance(given, list) or not all(
        isinstance(p, dict)
        and set(p) == {"key", "value"}
        and all(isinstance(v, str) for v in p.values())
        for p in given
    ):
        raise Refusal(400, BAD_REQUEST, f"{field} must be an array of {{key, value}} strings")
    return [{"key": p["key"], "value": p["value"]} for p in given]


def count(query: dict[str, Any], field: str, default: int) -> int:
    """A whole number of a Query (``limit``, ``skip``); JSON numbers may be written 10.0."""
    value = query.get(field, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not is_whole(value):
        raise Refusal(400, BAD_REQUEST, f"{field} must be a whole number")
    return value


def fields(item: Any) -> dict[str, Any]:
    """The fields of one Message (or a BatchMessage without its destinations), checked."""
    if not isinstance(item, dict):
        raise Refusal(400, BAD_REQUEST, "Request body must be a JSON object")
    content, sender, tag = item.get("content"), item.get("sender"), item.get("tag")
    if not isinstance(content, str) or not content:
        raise Refusal(400, BAD_REQUEST, "content is required")
    if len(content) > MAX_CONTENT:
        raise Refusal(400, 4002, "Message is too long")
    if not isinstance(sender, str) or not SENDER.fullmatch(sender):
        raise Refusal(400, 4003, "SenderID is invalid or too long")
    if tag is not None and (not isinstance(tag, str) or len(tag) > MAX_TAG):
        raise Refusal(400, 4005, "Tag longer than 20 characters")
    report_url = item.get("deliveryreporturl")
    return {
        "content": content,
        "sender": sender,
        "tag": tag,
        "metadata": pairs(item.get("metadata"), "metadata"),
        "report_url": report_url if isinstance(report_url, str) else None,
        "schedule": item.get("schedule"),
    }


async def read_json(request: web.Request, *, array: bool = False) -> Any:
    """The request's JSON body: an object, or with ``array`` an array.

    Raises:
        Refusal: 400, error 4000.
    """
    try:
        body = await request.json()
    except ValueError:
        raise Refusal(400, BAD_REQUEST, "Request body must be JSON") from None
    if array and not isinstance(body, list):
        raise Refusal(400, BAD_REQUEST, "Request body must be a JSON array")
    if not array and not isinstance(body, dict):
        raise Refusal(400, BAD_REQUEST, "Request body must be a JSON object")
    return body
