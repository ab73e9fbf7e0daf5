"""The SMS Works, emulated: the endpoints, answers and error codes of its developer guide.

Auth: ``POST /auth/token`` trades the account's customer id, key and secret for a JWT; every
other call needs a JWT it issued (or the account's fixed token) in ``Authorization``.
Refusals use the guide's ExtendedErrorModel (``message``, ``errorCode``, ``status``,
``permanent``) and codes: 4002 content too long, 4003 bad sender, 4004 bad destination,
4005 tag too long, 4011 bad key/secret, 4021 not enough credit; injected faults add 5001
(rejected, logged, not charged) and 5002 (not taken, "please try again").

Every message keeps its ``metadata`` pairs, and ``POST /messages`` searches the account's log
as the spec's Query describes: by status word, destination, sender, tag, credits, date range
(``from``/``to``, on the time it was created) and metadata pairs (all must match), oldest first,
``limit`` (1,000 at most, the default) at a time after ``skip``.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from smsgate.checks import is_whole
from smsgate.errors import ValidationError
from smsgate.model import normalize_number
from smsgate.sandbox._emulator import Context, Emulator, register_emulator
from smsgate.sandbox._engine import Sms, Stage

NAME = "smsworks"
TOKEN = "JWT sandbox-token"
CUSTOMER_ID, KEY, SECRET = "sandbox", "sandbox-key", "sandbox-secret"
SENDER = "Sandbox"

# The provider's rules, written from the guide rather than imported from the adapter: an
# emulator that shared the client's checks could not catch a mistake in them.
_SENDER = re.compile(r"[A-Za-z0-9]{3,11}|[0-9]{1,15}")
_MAX_CONTENT = 640
_MAX_TAG = 20
_MAX_SEARCH = 1000  # "Retrieve up to 1000 messages matching your search criteria"
# The Query's status words; UNDELIVERABLE is how it names an UNDELIVERED message.
_QUERY_WORDS = {"UNDELIVERABLE": "UNDELIVERED"}

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

    def __init__(self, context: Context) -> None:
        self.context = context
        self.engine = context.engine
        self.account = context.account
        self.customer_id, self._key, self._secret = CUSTOMER_ID, KEY, SECRET
        self._tokens = {TOKEN}
        self._now = context.now
        # Messages by each metadata pair they carry, in the order they came: a search by
        # metadata (looking a message up by its key) reads only those.
        self._by_pair: dict[tuple[str, str], list[Sms]] = {}

    def routes(self) -> list[web.RouteDef]:
        handle, sending = self._guarded, self._sending
        return [
            web.post("/auth/token", self.token),
            web.post("/message/send", sending(self.send)),
            web.post("/message/flash", sending(self.send)),
            web.post("/message/schedule", sending(self.schedule)),
            web.post("/messages", handle(self.search)),
            web.get("/messages/{id}", handle(self.message)),
            web.delete("/messages/schedule/{id}", handle(self.cancel)),
            web.post("/batch/send", sending(self.batch_send)),
            web.post("/batch/any", sending(self.batch_any)),
            web.post("/batch/schedule", sending(self.batch_send)),
            web.get("/batch/{id}", handle(self.batch)),
            web.delete("/batches/schedule/{id}", handle(self.cancel_batch)),
            web.get("/credits/balance", handle(self.balance)),
        ]

    def config(self, base_url: str) -> dict[str, Any]:
        return {"provider": NAME, "base_url": base_url, "token": TOKEN, "sender": SENDER}

    def on_final(self, sms: Sms) -> None:
        """Refund a failed message within the UK, and post its delivery report."""
        if sms.failed and sms.to.startswith("+44"):
            self.account.credits += sms.credits
        url = sms.report_url or self.context.webhook_url()
        if url is not None:
            self.context.reporter.post(url, self.logged(sms))

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

    def _sending(self, handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Any]:
        return self._guarded(self.context.sending(handler, answer=self._answer))

    def _answer(self, fault: str, stored: list[Sms]) -> web.Response:
        """The guide's two documented 503s: 5001 logs the messages as rejected and never
        sent, without charge; 5002 took nothing ("please try again")."""
        if fault == "5001":
            now = self._now()
            for sms in stored:
                self.account.credits += sms.credits
                sms.credits = 0
                sms.outcome = "REJECTED"
                sms.failure = {"code": 5001, "details": "SMS Message Rejected", "permanent": True}
                sms.stage, sms.modified = Stage.FINAL, now
            return _error(Refusal(503, 5001, "SMS Message Rejected"))
        return _error(Refusal(503, 5002, "Service database error. Please try again.", False))

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
            "metadata": _pairs(item.get("metadata"), "metadata"),
            "report_url": report_url if isinstance(report_url, str) else None,
            "schedule": item.get("schedule"),
        }

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
            metadata=fields["metadata"],
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
            for pair in sms.metadata or ():
                self._by_pair.setdefault((pair["key"], pair["value"]), []).append(sms)
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
        sms.send_at = _date(fields["schedule"], "schedule")
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
            send_at = _date(fields["schedule"], "schedule")
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
        # The spec's example: a batch sent now is answered SCHEDULED too (queued for
        # processing).
        return web.json_response({"batchid": batch_id, "status": "SCHEDULED"}, status=201)

    async def search(self, request: web.Request) -> web.Response:
        query = await _json(request)
        limit = min(_count(query, "limit", _MAX_SEARCH), _MAX_SEARCH)
        skip = _count(query, "skip", 0)
        tests = self._tests(query)
        pairs = _pairs(query.get("metadata"), "metadata")
        logged: Iterable[Sms] = (
            self._by_pair.get((pairs[0]["key"], pairs[0]["value"]), [])
            if pairs
            else self.account.messages.values()
        )
        found = [sms for sms in logged if all(t(sms) for t in tests)]
        return web.json_response([self.logged(sms) for sms in found[skip : skip + limit]])

    def _tests(self, query: dict[str, Any]) -> list[Callable[[Sms], bool]]:
        """One test per criterion of a Query; every one must pass."""
        tests: list[Callable[[Sms], bool]] = []
        text_fields = {"status", "destination", "sender", "tag", "keyword"}
        for field in text_fields & query.keys():
            if not isinstance(query[field], str):
                raise Refusal(400, None, f"{field} must be a string")
        if "status" in query:
            word = query["status"].upper()
            word = _QUERY_WORDS.get(word, word)
            tests.append(lambda sms: self.word(sms) == word)
        if "destination" in query:
            to = self._destination(query["destination"])
            tests.append(lambda sms: sms.to == to)
        if "sender" in query:
            tests.append(lambda sms: sms.sender == query["sender"])
        if "tag" in query:
            tests.append(lambda sms: sms.tag == query["tag"])
        if "keyword" in query:  # only incoming messages have keywords; none are logged here
            tests.append(lambda sms: False)
        if "credits" in query:
            credits = query["credits"]
            if isinstance(credits, bool) or not isinstance(credits, int | float):
                raise Refusal(400, None, "credits must be a number")
            tests.append(lambda sms: sms.credits == credits)
        if "from" in query:
            since = _date(query["from"], "from")
            tests.append(lambda sms: sms.created >= since)
        if "to" in query:
            until = _date(query["to"], "to")
            tests.append(lambda sms: sms.created <= until)
        if "metadata" in query:
            wanted = _pairs(query["metadata"], "metadata") or []
            tests.append(lambda sms: all(pair in (sms.metadata or ()) for pair in wanted))
        return tests

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
        if sms.metadata:
            data["metadata"] = sms.metadata
        if sms.stage is Stage.FINAL and sms.failure is not None:
            data["failurereason"] = sms.failure
        return data


def _pairs(given: Any, field: str) -> list[dict[str, str]] | None:
    """Metadata as the spec writes it: an array of ``{key, value}`` strings."""
    if given is None:
        return None
    if not isinstance(given, list) or not all(
        isinstance(p, dict)
        and set(p) == {"key", "value"}
        and all(isinstance(v, str) for v in p.values())
        for p in given
    ):
        raise Refusal(400, None, f"{field} must be an array of {{key, value}} strings")
    return [{"key": p["key"], "value": p["value"]} for p in given]


def read_date(written: Any) -> datetime | None:
    """A date as the guide writes one: "the JavaScript date format, which is the same as the
    ISO 8601 syntax. E.g Sun Sep 03 2017 15:34:23 GMT+0100 (BST)" — so either ISO 8601
    (``2017-03-25T21:43:05.665Z``) or ``Date.toString()``, whose zone name in brackets is
    optional. A date without an offset is UTC; ``None`` when it is neither form."""
    if not isinstance(written, str) or not written:
        return None
    try:
        when = datetime.fromisoformat(written)
    except ValueError:
        try:
            when = datetime.strptime(written.split(" (")[0], "%a %b %d %Y %H:%M:%S GMT%z")
        except ValueError:
            return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _date(written: Any, field: str) -> datetime:
    when = read_date(written)
    if when is None:
        raise Refusal(400, None, f"{field} must be a date")
    return when


def _count(query: dict[str, Any], field: str, default: int) -> int:
    value = query.get(field, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not is_whole(value):
        raise Refusal(400, None, f"{field} must be a whole number")
    return value


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


EMULATOR = Emulator(
    name=NAME,
    title="The SMS Works",
    prefix="/smsworks/v1",
    first_id=100_000_001,
    build=SmsWorks,
    refusals=frozenset({"REJECTED"}),
    faults={"5001": True, "5002": False},  # 5001: logged as rejected; 5002: nothing taken
)
register_emulator(EMULATOR)
