"""A provider stand-in on 127.0.0.1 that misbehaves on cue, and remembers what it accepted.

Each request gets the next fault from a script (or a function of the request number). A
fault either accepts the request's messages before misbehaving (the client cannot know it
did: a reset after reading, no answer, a cut-off answer) or refuses them (429, 503, 500), so
a test can tell a safe retry from a second send.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterable

from tests.conftest import RawServer, read_request, reset

ACCEPTING = frozenset({"ok", "reset_after_read", "hang", "truncated", "wrong_type"})
FAULTS = (
    "reset_before_read",
    "reset_after_read",
    "hang",
    "429",
    "503_5002",
    "500_html",
    "truncated",
    "wrong_type",
)


def _response(status: str, body: bytes, *headers: str, length: int | None = None) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body) if length is None else length}"]
    return ("\r\n".join([*head, *headers]) + "\r\n\r\n").encode() + body


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
        request = json.loads(body)
        numbers = request.get("phone_numbers") or [request.get("destination")]
        if fault in ACCEPTING:
            self.accepted.update(numbers)
        scheduler = b"/api/v1/sms" in head.split(b"\r\n")[0]
        if scheduler:
            ids = {n: [next(self._ids)] for n in numbers}
            ok = json.dumps({"message_id": next(self._ids), "sms_ids": ids}).encode()
        else:
            ok = b'{"messageid":"%d","status":"SENT","credits":1,"creditsUsed":1}' % next(self._ids)
        if fault == "reset_after_read":
            reset(writer)
            return False
        if fault == "hang":
            await asyncio.sleep(10)
            return False
        if fault == "truncated":
            writer.write(
                _response("201 Created", ok[:10], "Content-Type: application/json", length=len(ok))
            )
            await writer.drain()
            return False
        answers = {
            "ok": _response("201 Created", ok, "Content-Type: application/json"),
            "wrong_type": _response("201 Created", ok, "Content-Type: text/html"),
            "429": _response("429 Too Many Requests", b"", "Retry-After: 0"),
            "503_5002": _response(
                "503 Service Unavailable",
                b'{"message":"Service database error","errorCode":5002,"status":"ERROR"}',
                "Content-Type: application/json",
            ),
            "500_html": _response(
                "500 Internal Server Error",
                b"<html><h1>Oops</h1></html>",
                "Content-Type: text/html",
            ),
        }
        writer.write(answers[fault])
        await writer.drain()
        return True
