"""A provider stand-in on 127.0.0.1 that misbehaves on cue, and remembers what it accepted.

Each request gets the next fault from a script (or a function of the request number). A
fault either accepts the request's messages before misbehaving (the client cannot know it
did: a reset after reading, no answer, a cut-off answer, a 5xx from the server or the load
balancer in front of it) or refuses them (429, The SMS Works' documented 503s), so a test can
tell a safe retry from a second send. It speaks The SMS Works' ``/message/send`` and
``/batch/*`` and SMS Scheduler's ``/sms``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterable

from tests.support.servers import RawServer, read_request, reset

ACCEPTING = frozenset(
    {
        "ok",
        "reset_after_read",
        "hang",
        "truncated",
        "wrong_type",
        "500_json",
        "500_html",
        "502_html",
        "504_html",
    }
)
"""Faults after which the messages were stored, and will be sent."""
LOGGED_AS_REJECTED = frozenset({"503_5001"})
"""Faults after which the messages were logged as rejected: never sent, not charged."""
FAULTS = (
    "reset_before_read",
    "reset_after_read",
    "hang",
    "429",
    "503_5002",
    "503_5001",
    "500_json",
    "500_html",
    "502_html",
    "504_html",
    "truncated",
    "wrong_type",
)


def _response(status: str, body: bytes, *headers: str, length: int | None = None) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body) if length is None else length}"]
    return ("\r\n".join([*head, *headers]) + "\r\n\r\n").encode() + body


_JSON = "Content-Type: application/json"
_HTML = "Content-Type: text/html"
_ANSWERS = {
    "429": _response("429 Too Many Requests", b"", "Retry-After: 0"),
    "503_5002": _response(
        "503 Service Unavailable",
        b'{"message":"Service database error","errorCode":5002,"status":"ERROR"}',
        _JSON,
    ),
    "503_5001": _response(
        "503 Service Unavailable",
        b'{"message":"SMS Message Rejected","errorCode":5001,"status":"ERROR"}',
        _JSON,
    ),
    "500_json": _response("500 Internal Server Error", b'{"message":"Internal error"}', _JSON),
    "500_html": _response("500 Internal Server Error", b"<html><h1>Oops</h1></html>", _HTML),
    "502_html": _response("502 Bad Gateway", b"<html><h1>502 Bad Gateway</h1></html>", _HTML),
    "504_html": _response("504 Gateway Time-out", b"<html><h1>504</h1></html>", _HTML),
}


def numbers_of(body: object) -> list[str]:
    """The recipients a request carries, as the provider was sent them."""
    if isinstance(body, list):  # /batch/any
        return [item["destination"] for item in body]
    assert isinstance(body, dict)
    for field in ("phone_numbers", "destinations"):  # /sms, /batch/send
        if field in body:
            return list(body[field])
    return [body["destination"]]  # /message/send


class FaultServer(RawServer):
    def __init__(self, faults: Iterable[str] | Callable[[int], str] = ()) -> None:
        super().__init__(self._serve)
        if callable(faults):
            self._next: Callable[[int], str] = faults
        else:
            script = list(faults)
            self._next = lambda n: script[n] if n < len(script) else "ok"
        self._count = itertools.count()
        self._ids = itertools.count(1)
        self.requests = 0
        self.faults: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()
        """Messages stored to be sent, by recipient: what the provider's record says."""
        self.rejected: Counter[str] = Counter()
        """Messages logged as rejected (never sent), by recipient."""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; whether the connection stays open for another."""
        raw = await read_request(reader)
        fault = self._next(next(self._count))
        self.faults[fault] += 1
        if fault == "reset_before_read":  # dropped unprocessed, before any answer
            reset(writer)
            return False
        self.requests += 1
        head, _, body = raw.partition(b"\r\n\r\n")
        numbers = numbers_of(json.loads(body))
        if fault in ACCEPTING:
            self.accepted.update(numbers)
        elif fault in LOGGED_AS_REJECTED:
            self.rejected.update(numbers)
        path = head.split(b"\r\n")[0].split(b" ")[1]
        if path.endswith(b"/sms"):
            ids = {n: [next(self._ids)] for n in numbers}
            ok = json.dumps({"message_id": next(self._ids), "sms_ids": ids}).encode()
        elif b"/batch/" in path:
            ok = b'{"batchid":"b%d","status":"SCHEDULED"}' % next(self._ids)
        else:
            ok = b'{"messageid":"%d","status":"SENT","credits":1,"creditsUsed":1}' % next(self._ids)
        if fault == "reset_after_read":
            reset(writer)
            return False
        if fault == "hang":
            await asyncio.sleep(10)
            return False
        if fault == "truncated":
            writer.write(_response("201 Created", ok[:10], _JSON, length=len(ok)))
            await writer.drain()
            return False
        if fault == "ok":
            answer = _response("201 Created", ok, _JSON)
        elif fault == "wrong_type":
            answer = _response("201 Created", ok, _HTML)
        else:
            answer = _ANSWERS[fault]
        writer.write(answer)
        await writer.drain()
        return True
