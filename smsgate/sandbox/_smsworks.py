"""The SMS Works, emulated: the endpoints, answers and error codes of its developer guide.

Auth: ``POST /auth/token`` trades the account's customer id, key and secret for a JWT; every
other call needs a JWT it issued (or the account's fixed token) in ``Authorization``.
Refusals use the guide's ExtendedErrorModel (``message``, ``errorCode``, ``status``,
``permanent``) and codes: 4002 content too long, 4003 bad sender, 4004 bad destination,
4005 tag too long, 4011 bad key/secret, 4021 not enough credit.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from smsgate.errors import ValidationError
from smsgate.model import normalize_number
from smsgate.providers.smsworks import parse_time
from smsgate.sandbox._engine import Account, Engine, Sms, Stage

NAME = "smsworks"
PREFIX = "/smsworks/v1"

# The provider's rules, written from the guide rather than imported from the adapter: an
# emulator that shared the client's checks could not catch a mistake in them.
_SENDER = re.compile(r"[A-Za-z0-9]{3,11}|[0-9]{1,15}")
_MAX_CONTENT = 640
_MAX_TAG = 20

WORDS = {
    Stage.SCHEDULED: "SCHEDULED",
    # /message/send answers "SENT" (the guide's example), so a queued message reads "SENT"
    # from then on, and a status never steps back.
    Stage.QUEUED: "SENT",
    Stage.SENT: "SENT",
    Stage.CANCELLED: "CANCELLED",
}
FAILURES = [
    ("UNDELIVERED", {"code": 1, "details": "Absent subscriber", "permanent": False}),
    ("UNDELIVERED", {"code": 2, "details": "Unknown subscriber", "permanent": True}),
    ("EXPIRED", {"code": 3, "details": "Validity period expired", "permanent": False}),
    ("REJECTED", {"code": 4, "details": "Rejected by the platform", "permanent": True}),
]


class Refusal(Exception):
    """An error answer, in the guide's ExtendedErrorModel."""

    def __init__(self, http: int, code: int | None, message: str, permanent: bool = True) -> None:
        self.http, self.code, self.message, self.permanent = http, code, message, permanent


def _error(refusal: Refusal) -> web.Response:
    body: dict[str, Any] = {"message": refusal.message}
    if refusal.code is not None:
        body.update(errorCode=refusal.code, status=refusal.http, permanent=refusal.permanent)
    return web.json_response(body, status=refusal.http)


class SmsWorks:
    """The routes of one emulated The SMS Works account."""

    def __init__(
        self,
        engine: Engine,
        account: Account,
        *,
        token: str,
        customer_id: str,
        key: str,
        secret: str,
        webhook_url: Callable[[], str | None],
        now: Callable[[], datetime],
    ) -> None:
        self.engine = engine
        self.account = account
        self.customer_id, self._key, self._secret = customer_id, key, secret
        self._tokens = {token}
        self._webhook_url = webhook_url
        self._now = now

    def routes(self) -> list[web.RouteDef]:
        handle = self._guarded
        return [
            web.post(PREFIX + "/auth/token", self.token),
            web.post(PREFIX + "/message/send", handle(self.send)),
            web.post(PREFIX + "/message/flash", handle(self.send)),
            web.post(PREFIX + "/message/schedule", handle(self.schedule)),
            web.get(PREFIX + "/messages/{id}", handle(self.message)),
            web.delete(PREFIX + "/messages/schedule/{id}", handle(self.cancel)),
            web.post(PREFIX + "/batch/send", handle(self.batch_send)),
            web.post(PREFIX + "/batch/any", handle(self.batch_any)),
            web.post(PREFIX + "/batch/schedule", handle(self.batch_send)),
            web.get(PREFIX + "/batch/{id}", handle(self.batch)),
            web.delete(PREFIX + "/batches/schedule/{id}", handle(self.cancel_batch)),
            web.get(PREFIX + "/credits/balance", handle(self.balance)),
        ]

    def _guarded(self, handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Any]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if request.headers.get("Authorization") not in self._tokens:
                return web.json_response({"message": "Unauthorized"}, status=401)
            self.engine.advance(self._now())
            try:
                response: web.StreamResponse = await handler(request)
            except Refusal as refusal:
                return _error(refusal)
            return response

        return guarded

    # -- auth -------------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        body = await _json(request)
        given = (body.get("customerid"), body.get("key"), body.get("secret"))
        if given != (self.customer_id, self._key, self._secret):
            return _error(Refusal(401, 4011, "Not authenticated"))
        token = "JWT " + secrets.token_urlsafe(24)
        self._tokens.add(token)
        return web.json_response({"token": token})

    # -- reading requests -------------------------------------------------------------------

    def _destination(self, written: Any) -> str:
        if not isinstance(written, str) or not written.isdigit():
            raise Refusal(400, 4004, "Invalid destination number")
        try:
            return normalize_number(written if written.startswith("0") else "+" + written, "GB")
        except ValidationError:
            raise Refusal(400, 4004, "Invalid destination number") from None

    def _fields(self, item: Any) -> dict[str, Any]:
        """Check one Message (or BatchMessage without its destinations)."""
        if not isinstance(item, dict):
            raise Refusal(400, None, "Request body must be a JSON object")
        content, sender, tag = item.get("content"), item.get("sender"), item.get("tag")
        if not isinstance(content, str) or not content:
            raise Refusal(400, None, "content is required")
        if len(content) > _MAX_CONTENT:
            raise Refusal(400, 4002, "Message is too long")
        if not isinstance(sender, str) or not _SENDER.fullmatch(sender):
            raise Refusal(400, 4003, "SenderID is invalid or too long")
        if tag is not None and (not isinstance(tag, str) or len(tag) > _MAX_TAG):
            raise Refusal(400, 4005, "Tag longer than 20 characters")
        report_url = item.get("deliveryreporturl")
        return {
            "content": content,
            "sender": sender,
            "tag": tag,
            "report_url": report_url if isinstance(report_url, str) else None,
            "schedule": item.get("schedule"),
        }

    def _send_at(self, written: Any, now: datetime) -> datetime:
        when = parse_time(written) if isinstance(written, str) else None
        if when is None:
            raise Refusal(400, None, "schedule must be a date")
        return when if when.tzinfo else when.replace(tzinfo=UTC)

    def _create(self, fields: dict[str, Any], to: str, send_at: datetime) -> Sms:
        parts = min(4, math.ceil(len(fields["content"]) / 160))
        cost = parts * (1 if to.startswith("+44") else 2)  # international costs double
        outcome, failure = "DELIVERED", None
        if self.engine.fails():
            outcome, failure = self.engine.random.choice(FAILURES)
        now = self._now()
        return Sms(
            id=self.account.next_id(),
            provider=NAME,
            to=to,
            text=fields["content"],
            sender=fields["sender"],
            parts=parts,
            credits=cost,
            created=now,
            send_at=send_at,
            outcome=outcome,
            tag=fields["tag"],
            report_url=fields["report_url"],
            failure=failure,
        )

    def _accept(self, created: list[Sms], batch_id: str | None = None) -> None:
        cost = sum(sms.credits for sms in created)
        if cost > self.account.credits:
            raise Refusal(402, 4021, "Insufficient credit to send message")
        self.account.credits -= cost
        now = self._now()
        for sms in created:
            sms.batch_id = batch_id
            self.account.messages[sms.id] = sms
            self.engine.add(sms, now)
        if batch_id is not None:
            self.account.batches[batch_id] = created

    # -- endpoints --------------------------------------------------------------------------

    async def send(self, request: web.Request) -> web.Response:
        body = await _json(request)
        fields = self._fields(body)
        sms = self._create(fields, self._destination(body.get("destination")), self._now())
        self._accept([sms])
        return web.json_response(
            {
                "messageid": sms.id,
                "status": "SENT",
                "credits": self.account.credits,
                "creditsUsed": sms.credits,
                "messageparts": sms.parts,
            },
            status=201,
        )

    async def schedule(self, request: web.Request) -> web.Response:
        body = await _json(request)
        fields = self._fields(body)
        now = self._now()
        sms = self._create(fields, self._destination(body.get("destination")), now)
        sms.send_at = self._send_at(fields["schedule"], now)
        self._accept([sms])
        return web.json_response([{"messageid": sms.id, "status": "SCHEDULED"}])

    async def batch_send(self, request: web.Request) -> web.Response:
        body = await _json(request)
        fields = self._fields(body)
        destinations = body.get("destinations")
        if not isinstance(destinations, list) or not destinations:
            raise Refusal(400, None, "destinations must be a non-empty array")
        now = self._now()
        send_at = now
        if request.path.endswith("/schedule"):
            send_at = self._send_at(fields["schedule"], now)
        numbers = [self._destination(d) for d in destinations]
        return self._batch([self._create(fields, to, send_at) for to in numbers], send_at)

    async def batch_any(self, request: web.Request) -> web.Response:
        items = await _json(request, array=True)
        if not items:
            raise Refusal(400, None, "the batch is empty")
        now = self._now()
        created = []
        for item in items:
            fields = self._fields(item)
            created.append(self._create(fields, self._destination(item.get("destination")), now))
        return self._batch(created, now)

    def _batch(self, created: list[Sms], send_at: datetime) -> web.Response:
        for sms in created:
            sms.send_at = send_at
        batch_id = "b" + self.account.next_id()
        self._accept(created, batch_id)
        status = "SCHEDULED" if send_at > self._now() else "SENT"
        return web.json_response({"batchid": batch_id, "status": status}, status=201)

    async def message(self, request: web.Request) -> web.Response:
        return web.json_response(self.logged(self._find(request.match_info["id"])))

    async def batch(self, request: web.Request) -> web.Response:
        batch = self.account.batches.get(request.match_info["id"])
        if batch is None:
            raise Refusal(404, None, "Batch not found")
        return web.json_response([self.logged(sms) for sms in batch])

    async def cancel(self, request: web.Request) -> web.Response:
        sms = self._find(request.match_info["id"])
        if not self.engine.cancel(sms, self.account, self._now()):
            raise Refusal(400, None, f"Message {sms.id} is not scheduled")
        return web.json_response({"messageid": sms.id, "status": "CANCELLED"})

    async def cancel_batch(self, request: web.Request) -> web.Response:
        batch_id = request.match_info["id"]
        batch = self.account.batches.get(batch_id)
        if batch is None:
            raise Refusal(404, None, "Batch not found")
        now = self._now()
        cancelled = sum(self.engine.cancel(sms, self.account, now) for sms in batch)
        if not cancelled:
            raise Refusal(400, None, f"Batch {batch_id} is not scheduled")
        return web.json_response({"messageid": batch_id, "status": "CANCELLED"})

    async def balance(self, _: web.Request) -> web.Response:
        return web.json_response({"credits": self.account.credits})

    def _find(self, message_id: str) -> Sms:
        sms = self.account.messages.get(message_id)
        if sms is None:
            raise Refusal(404, None, "Message not found")
        return sms

    # -- what it tells -------------------------------------------------------------------------

    def word(self, sms: Sms) -> str:
        return str(sms.outcome) if sms.stage is Stage.FINAL else WORDS[sms.stage]

    def logged(self, sms: Sms) -> dict[str, Any]:
        """A MessageResponse, which is also what a delivery report carries."""
        data: dict[str, Any] = {
            "messageid": sms.id,
            "customerid": self.customer_id,
            "sender": sms.sender,
            "destination": int(sms.to[1:]),
            "content": sms.text,
            "tag": sms.tag or "",
            "status": self.word(sms),
            "credits": sms.credits,
            "created": sms.created.isoformat(timespec="milliseconds"),
            "modified": sms.modified.isoformat(timespec="milliseconds"),
            "schedule": sms.send_at.isoformat(timespec="milliseconds"),
        }
        if sms.batch_id is not None:
            data["batchid"] = sms.batch_id
        if sms.stage is Stage.FINAL and sms.failure is not None:
            data["failurereason"] = sms.failure
        return data

    def report_url(self, sms: Sms) -> str | None:
        return sms.report_url or self._webhook_url()


async def _json(request: web.Request, *, array: bool = False) -> Any:
    try:
        body = await request.json()
    except ValueError:
        raise Refusal(400, None, "Request body must be JSON") from None
    if array and not isinstance(body, list):
        raise Refusal(400, None, "Request body must be a JSON array")
    if not array and not isinstance(body, dict):
        raise Refusal(400, None, "Request body must be a JSON object")
    return body
