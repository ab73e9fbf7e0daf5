"""The SMS Works, emulated: the endpoints, answers and error codes of its developer guide and
OpenAPI spec (the rules themselves are in `smsgate.sandbox._smsworks_rules`).

Auth: ``POST /auth/token`` trades the account's customer id, key and secret for a JWT; every
other call needs a JWT it issued (or the account's fixed token) in ``Authorization``. Every
refusal is the spec's ExtendedErrorModel with the guide's codes: 4002 content too long, 4003
bad sender, 4004 bad destination (``+``, ``00`` or no number), 4005 tag too long, 4011 not
authenticated (a bad key/secret, or no valid token), 4021 not enough credit; injected faults
add 5001 (rejected, logged, not charged) and 5002 (not taken, "please try again").

Dates (``schedule``, a search's ``from`` and ``to``) are read as the server reads them, with
JavaScript's ``new Date()`` in Europe/London: ISO 8601, ``Date.toString()``, RFC 1123 and the
free forms of the guide's SDK examples. A schedule date more than `PAST_GRACE` in the past is
refused (400): the documents do not say what the service does with one, and refusing is the
answer that neither texts anyone at a time they did not choose nor spends credits.

Credits: one a part (160 GSM characters, or 153 a part; 70 other characters, or 67 a part),
double outside the UK. A message that ends UNDELIVERED or EXPIRED in the UK is refunded; one
abroad is not; one REJECTED is never charged.

Every message keeps its ``metadata`` pairs, and ``POST /messages`` searches the account's log
as the spec's Query describes: by status word, destination, sender, tag, credits, date range
(``from``/``to``, on the time it was created) and metadata pairs (all must match), oldest first,
``limit`` (1,000 at most, the default) at a time after ``skip``. ``POST /messages/failed``
searches the failed ones; ``POST /messages/inbox`` finds none (the sandbox receives no SMS).
``GET /messages/volume``, ``DELETE /messages/{id}`` (a message that is final or cancelled;
a scheduled one must be cancelled first), ``GET /utils/test`` and ``GET /utils/errors/{code}``
are emulated; the endpoints it does not emulate (``GET /messages/schedule``, ``/otp/*``,
``/binary/send``) answer ``501`` with error 5010, and any other path a JSON 404 (405 for a
method a path does not take).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from smsgate.sandbox._emulator import Context, Emulator, register_emulator
from smsgate.sandbox._engine import Sms, Stage
from smsgate.sandbox._smsworks_rules import (
    BAD_METHOD,
    BAD_REQUEST,
    LONDON,
    NOT_EMULATED,
    NOT_FOUND,
    PRICES,
    SAMPLE_ERRORS,
    Refusal,
    charge,
    count,
    date,
    destination,
    error,
    fields,
    pairs,
    read_json,
)

NAME = "smsworks"
TOKEN = "JWT sandbox-token"
CUSTOMER_ID, KEY, SECRET = "sandbox", "sandbox-key", "sandbox-secret"
SENDER = "Sandbox"
PAST_GRACE = timedelta(seconds=5)
"""How far in the past a schedule date may be (clocks differ) and still be sent at once."""

_MAX_SEARCH = 1000  # "Retrieve up to 1000 messages matching your search criteria"
MAX_BATCH = 5000  # "Batches may contain up to 5000 messages at a time"
# The Query's status words; UNDELIVERABLE is how it names an UNDELIVERED message.
_QUERY_WORDS = {"UNDELIVERABLE": "UNDELIVERED"}
_FAILED_WORDS = frozenset({"UNDELIVERED", "EXPIRED", "REJECTED"})
_NOT_EMULATED = [
    ("GET", "/messages/schedule"),
    ("POST", "/binary/send"),
    ("POST", "/otp/send"),
    ("POST", "/otp/verify"),
    ("GET", "/otp/{messageid}"),
]

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
        self._deleted: set[str] = set()  # ids of messages deleted from the log
        self._paths: list[tuple[str, re.Pattern[str]]] = []

    def routes(self) -> list[web.RouteDef]:
        handle, sending = self._guarded, self._sending
        known = [
            web.post("/auth/token", self.token),
            web.post("/message/send", sending(self.send)),
            web.post("/message/flash", sending(self.send)),
            web.post("/message/schedule", sending(self.schedule)),
            web.post("/messages", handle(self.search)),
            web.post("/messages/failed", handle(self.search_failed)),
            web.post("/messages/inbox", handle(self.search_inbox)),
            web.get("/messages/volume", handle(self.volume)),
            *(
                web.route(method, path, handle(self._not_emulated(method, path)))
                for method, path in _NOT_EMULATED
            ),
            web.get("/messages/{id}", handle(self.message)),
            web.delete("/messages/{id}", handle(self.delete)),
            web.delete("/messages/schedule/{id}", handle(self.cancel)),
            web.post("/batch/send", sending(self.batch_send)),
            web.post("/batch/any", sending(self.batch_any)),
            web.post("/batch/schedule", sending(self.batch_send)),
            web.get("/batch/{id}", handle(self.batch)),
            web.delete("/batches/schedule/{id}", handle(self.cancel_batch)),
            web.get("/credits/balance", handle(self.balance)),
            web.get("/utils/test", handle(self.test)),
            web.get("/utils/errors/{code}", handle(self.sample_error)),
        ]
        self._paths = [
            (route.method, re.compile(re.sub(r"\{[^}]+\}", "[^/]+", route.path))) for route in known
        ]
        # Last: every other path answers JSON, as the API does, not the server's plain text.
        return [*known, web.route("*", "/{path:.*}", self.unknown)]

    def config(self, base_url: str) -> dict[str, Any]:
        return {"provider": NAME, "base_url": base_url, "token": TOKEN, "sender": SENDER}

    def logins(self, base_url: str) -> dict[str, dict[str, Any]]:
        """The account's customer id, key and secret, which ``POST /auth/token`` trades for
        a token, as the guide's set-up does."""
        login = {"customer_id": self.customer_id, "key": self._key, "secret": self._secret}
        return {
            "key and secret": {"provider": NAME, "base_url": base_url, **login, "sender": SENDER}
        }

    def on_final(self, sms: Sms) -> None:
        """Refund a failed message as the guide says, and post its delivery report."""
        if sms.outcome == "REJECTED" and sms.credits:
            self.account.credits += sms.credits  # "No credit will be deducted"
            sms.credits = 0
        elif sms.failed and not PRICES.is_abroad(sms.to):
            self.account.credits += sms.credits  # UK only: international texts are paid for
        url = sms.report_url or self.context.webhook_url()
        if url is not None:
            self.context.reporter.post(url, self.logged(sms))

    def _guarded(self, handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Any]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if request.headers.get("Authorization") not in self._tokens:
                return error(Refusal(401, 4011, "Not authenticated"))
            self.engine.advance(self._now())
            try:
                response: web.StreamResponse = await handler(request)
            except Refusal as refusal:
                return error(refusal)
            except web.HTTPException as exc:  # what aiohttp refuses itself, such as a 413
                return error(Refusal(exc.status, exc.status * 10, exc.reason))
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
            return error(Refusal(503, 5001, "SMS Message Rejected"))
        return error(Refusal(503, 5002, "Service database error. Please try again.", False))

    async def unknown(self, request: web.Request) -> web.Response:
        """Any path the API does not have: 404, or 405 for a method a path does not take."""
        path = "/" + request.match_info["path"]
        allowed = {method for method, found in self._paths if found.fullmatch(path)}
        allowed |= {"HEAD"} if "GET" in allowed else set()
        if allowed:
            refusal = Refusal(405, BAD_METHOD, f"{request.method} is not allowed on {path}")
            return error(refusal, headers={"Allow": ", ".join(sorted(allowed))})
        return error(Refusal(404, NOT_FOUND, f"Not found: {request.method} {path}"))

    @staticmethod
    def _not_emulated(method: str, path: str) -> Callable[[web.Request], Any]:
        async def answer(_: web.Request) -> web.Response:
            what = f"{method} {path}"
            return error(Refusal(501, NOT_EMULATED, f"The sandbox does not emulate {what}"))

        return answer

    # -- auth -------------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        try:
            body = await read_json(request)
        except Refusal as refusal:
            return error(refusal)
        given = (body.get("customerid"), body.get("key"), body.get("secret"))
        if given != (self.customer_id, self._key, self._secret):
            return error(Refusal(401, 4011, "Not authenticated"))
        token = "JWT " + secrets.token_urlsafe(24)
        self._tokens.add(token)
        return web.json_response({"token": token})

    # -- sending ----------------------------------------------------------------------------

    def _create(self, fields: dict[str, Any], to: str, send_at: datetime) -> Sms:
        parts, cost = charge(fields["content"], to)
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

    def _schedule(self, written: Any) -> datetime:
        """The time a schedule date asks for; refused when it is in the past."""
        when = date(written, "schedule")
        if when < self._now() - PAST_GRACE:
            raise Refusal(400, BAD_REQUEST, "schedule must not be in the past")
        return when

    async def send(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        checked = fields(body)
        sms = self._create(checked, destination(body.get("destination")), self._now())
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
        body = await read_json(request)
        checked = fields(body)
        send_at = self._schedule(checked["schedule"])
        sms = self._create(checked, destination(body.get("destination")), send_at)
        self._accept([sms])
        return web.json_response([{"messageid": sms.id, "status": "SCHEDULED"}])

    async def batch_send(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        checked = fields(body)
        destinations = body.get("destinations")
        if not isinstance(destinations, list) or not destinations:
            raise Refusal(400, BAD_REQUEST, "destinations must be a non-empty array")
        send_at = self._now()
        if request.path.endswith("/schedule"):
            send_at = self._schedule(checked["schedule"])
        _check_size(destinations)
        numbers = [destination(d) for d in destinations]
        return self._batch([self._create(checked, to, send_at) for to in numbers], send_at)

    async def batch_any(self, request: web.Request) -> web.Response:
        items = await read_json(request, array=True)
        if not items:
            raise Refusal(400, BAD_REQUEST, "the batch is empty")
        _check_size(items)
        now = self._now()
        created = []
        for item in items:
            checked = fields(item)
            created.append(self._create(checked, destination(item.get("destination")), now))
        return self._batch(created, now)

    def _batch(self, created: list[Sms], send_at: datetime) -> web.Response:
        for sms in created:
            sms.send_at = send_at
        batch_id = "b" + self.account.next_id()
        self._accept(created, batch_id)
        # The spec's example: a batch sent now is answered SCHEDULED too (queued for
        # processing).
        return web.json_response({"batchid": batch_id, "status": "SCHEDULED"}, status=201)

    # -- the log ----------------------------------------------------------------------------

    async def search(
        self, request: web.Request, only: Callable[[Sms], bool] | None = None
    ) -> web.Response:
        query = await read_json(request)
        limit = min(count(query, "limit", _MAX_SEARCH), _MAX_SEARCH)
        skip = count(query, "skip", 0)
        tests = self._tests(query)
        if only is not None:
            tests.append(only)
        wanted = pairs(query.get("metadata"), "metadata")
        logged: Iterable[Sms] = (
            self._by_pair.get((wanted[0]["key"], wanted[0]["value"]), [])
            if wanted
            else self.account.messages.values()
        )
        tests.append(lambda sms: sms.id not in self._deleted)
        found = [sms for sms in logged if all(test(sms) for test in tests)]
        return web.json_response([self.logged(sms) for sms in found[skip : skip + limit]])

    async def search_failed(self, request: web.Request) -> web.Response:
        return await self.search(request, lambda sms: self.word(sms) in _FAILED_WORDS)

    async def search_inbox(self, request: web.Request) -> web.Response:
        # Only incoming messages are in the inbox, and the sandbox receives none.
        return await self.search(request, lambda sms: False)

    def _tests(self, query: dict[str, Any]) -> list[Callable[[Sms], bool]]:
        """One test per criterion of a Query; every one must pass."""
        tests: list[Callable[[Sms], bool]] = []
        text_fields = {"status", "destination", "sender", "tag", "keyword"}
        for field in text_fields & query.keys():
            if not isinstance(query[field], str):
                raise Refusal(400, BAD_REQUEST, f"{field} must be a string")
        if "status" in query:
            word = query["status"].upper()
            word = _QUERY_WORDS.get(word, word)
            tests.append(lambda sms: self.word(sms) == word)
        if "destination" in query:
            to = destination(query["destination"])
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
                raise Refusal(400, BAD_REQUEST, "credits must be a number")
            tests.append(lambda sms: sms.credits == credits)
        if "from" in query:
            since = date(query["from"], "from")
            tests.append(lambda sms: sms.created >= since)
        if "to" in query:
            until = date(query["to"], "to")
            tests.append(lambda sms: sms.created <= until)
        if "metadata" in query:
            wanted = pairs(query["metadata"], "metadata") or []
            tests.append(lambda sms: all(pair in (sms.metadata or ()) for pair in wanted))
        return tests

    async def volume(self, _: web.Request) -> web.Response:
        """The messages sent since midnight, London time: gone out to the networks, so
        neither scheduled, cancelled nor REJECTED (never sent); a message deleted from the
        log since still counts."""
        midnight = datetime.combine(self._now().astimezone(LONDON).date(), datetime.min.time())
        since = midnight.replace(tzinfo=LONDON)
        gone = (Stage.QUEUED, Stage.SENT, Stage.FINAL)
        sent = sum(
            sms.stage in gone and sms.outcome != "REJECTED" and sms.send_at >= since
            for sms in self.account.messages.values()
        )
        return web.json_response({"volume": sent})

    async def message(self, request: web.Request) -> web.Response:
        return web.json_response(self.logged(self._find(request.match_info["id"])))

    async def delete(self, request: web.Request) -> web.Response:
        """Delete a message from the log: one that is final or cancelled (a scheduled one is
        cancelled first, so that deleting never cancels a send by the way)."""
        sms = self._find(request.match_info["id"])
        if sms.stage not in (Stage.FINAL, Stage.CANCELLED):
            raise Refusal(
                400, BAD_REQUEST, f"Message {sms.id} is not final yet; cancel it or wait for it"
            )
        self._deleted.add(sms.id)
        return web.json_response({"messageid": sms.id, "status": "DELETED"})

    async def batch(self, request: web.Request) -> web.Response:
        batch = self.account.batches.get(request.match_info["id"])
        if batch is None:
            raise Refusal(404, NOT_FOUND, "Batch not found")
        return web.json_response([self.logged(s) for s in batch if s.id not in self._deleted])

    async def cancel(self, request: web.Request) -> web.Response:
        sms = self._find(request.match_info["id"])
        if not self.engine.cancel(sms, self.account, self._now()):
            raise Refusal(400, BAD_REQUEST, f"Message {sms.id} is not scheduled")
        return web.json_response({"messageid": sms.id, "status": "CANCELLED"})

    async def cancel_batch(self, request: web.Request) -> web.Response:
        batch_id = request.match_info["id"]
        batch = self.account.batches.get(batch_id)
        if batch is None:
            raise Refusal(404, NOT_FOUND, "Batch not found")
        now = self._now()
        cancelled = sum(self.engine.cancel(sms, self.account, now) for sms in batch)
        if not cancelled:
            raise Refusal(400, BAD_REQUEST, f"Batch {batch_id} is not scheduled")
        return web.json_response({"messageid": batch_id, "status": "CANCELLED"})

    async def balance(self, _: web.Request) -> web.Response:
        return web.json_response({"credits": self.account.credits})

    async def test(self, _: web.Request) -> web.Response:
        return web.json_response({"message": self.customer_id})

    async def sample_error(self, request: web.Request) -> web.Response:
        """The error the guide documents under a code, as the API would answer it."""
        code = request.match_info["code"]
        known = code.isascii() and code.isdigit() and len(code) <= 4
        sample = SAMPLE_ERRORS.get(int(code)) if known else None
        if sample is None:
            raise Refusal(404, NOT_FOUND, f"No error has the code {code}")
        http, message, permanent = sample
        return error(Refusal(http, int(code), message, permanent))

    def _find(self, message_id: str) -> Sms:
        sms = self.account.messages.get(message_id)
        if sms is None or sms.id in self._deleted:
            raise Refusal(404, NOT_FOUND, "Message not found")
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


def _check_size(batch: list[Any]) -> None:
    if len(batch) > MAX_BATCH:
        raise Refusal(400, BAD_REQUEST, f"Batches may contain up to {MAX_BATCH} messages at a time")


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
