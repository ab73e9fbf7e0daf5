"""SMS Scheduler, emulated: the endpoints, answers and status codes of its API page.

Where the page is silent or its published versions disagree, the emulator chooses so that a
client that works here meets no surprise in production; usually the stricter reading:

- Auth: ``Authorization: Bearer <token>`` (any case of "bearer"). The page documents no body
  for 401 and 404: every 401 is ``text/plain`` "Unauthorized" and every 404 of a listed
  route "Not Found", so a client must go by the status alone.
- A method or path the page does not list under the prefix gets a JSON
  ``{"error": ...}``: 405 (with ``Allow``) on a listed path, else 404, token or not. That
  body is the sandbox's, to tell a developer their URL is wrong; not the provider's.
- ``POST /sms`` is refused with 400 ``{"errors": {field: [message, ...]}}``, every bad
  field listed (`smsgate.sandbox._smsscheduler_rules`): a required field missing, null or
  empty is ``The field "x" is required``; a wrong JSON type ``The field "x" must be a value
  of type "t"``; ``phone_numbers`` that is not a list of strings ``The field
  "phone_numbers" must be a list of type "string"``, before one ``The following phone
  number is invalid: <as sent>`` per bad number (a ``+``, then digits only: no spaces or
  hyphens, and a real number). ``message_stop`` must be true or false if given (null is
  refused). A body that is not a JSON object is refused under ``body``; unknown fields are
  ignored. ``phone_numbers`` may be one string.
- ``sms_ids`` keys are the numbers in E.164 (``+330101010101`` answers under
  ``+33101010101``). Each maps to a list of ids (the page in hand; a number listed twice
  gets two SMS and two ids) or, with ``sms_ids_shape = "integer"`` set on the running
  emulator, to one integer, as the en-us and fr pages show (a number listed twice still
  gets two SMS, and the map keeps the last id).
- ``delivery_date`` is exactly ``YYYY-MM-DD HH:MM:SS`` (zero-padded, 19 characters), read in
  the sandbox's ``timezone``. A date at or before now goes out at once; a later one waits,
  as status 10. A wall-clock time that does not exist there (clocks go forward) or happens
  twice (clocks go back) is refused with a 400 on ``delivery_date`` when it is still to
  come, rather than sent at an hour the sender may not mean; when each of its readings is
  past, it goes out at once.
- ``message_stop`` is checked but its STOP mention, whose wording the page does not give,
  is neither added to the stored text nor counted in its parts.
- Each SMS costs a credit a part (the page gives no prices; the rule is
  `smsgate.pricing.PRICING`'s, which `smsgate.estimate` prices by too; parts are counted by
  `smsgate.sandbox._gsm`, the sandbox's own reading of GSM 03.38, not the library's).
  Credits are checked per SMS: one the account cannot pay for is created with status 25
  ("Cancelled - Not enough credits"). Failed messages are refunded. Other failures are
  drawn from the listed codes; with ``unlisted_codes = True`` on the running emulator, the
  draw takes unlisted Missed codes (34, 37) too, which clients must read by their tens
  digit. (Every code from 20 to 29 is listed, so there is no unlisted Cancelled code.)
- Deleting: ``DELETE /sms/{id}`` answers ``{"success": true}`` for a scheduled SMS and
  ``{"success": false}`` (200) for one already on its way or done, which is left as it is;
  ``DELETE /message/{id}`` answers ``{"success": <how many were still scheduled>}``, 0
  included. A deleted SMS is gone: ``GET``/``DELETE /sms/{id}`` answer 404, and
  ``GET /message/{id}`` lists the others (404 once none is left).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from typing import Any

from aiohttp import web

from smsgate.errors import ConfigurationError
from smsgate.pricing import PRICING
from smsgate.sandbox._emulator import Context, Emulator, register_emulator
from smsgate.sandbox._engine import Sms, Stage
from smsgate.sandbox._gsm import sms_parts
from smsgate.sandbox._smsscheduler_rules import SmsRequest, check_sms

NAME = "smsscheduler"
TOKEN = "sandbox-token"
SENDER, SENDER_ID = "Sandbox", 1

CODES = {Stage.SCHEDULED: 10, Stage.QUEUED: 11, Stage.SENT: 12}
DELIVERED = 13
NOT_ENOUGH_CREDITS = 25
FAILURES = [22, 24, 26, 28, 30, 31, 32, 33, 38]
UNLISTED_FAILURES = [34, 37]
"""Missed codes the page does not list, drawn only when ``unlisted_codes`` is set."""
SMS_IDS_SHAPES = ("list", "integer")

# The page's routes, for the answer to a method or path it does not list.
_LISTED = [
    (re.compile(r"/sms"), ("POST",)),
    (re.compile(r"/sms/[^/]+"), ("GET", "DELETE")),
    (re.compile(r"/message/[^/]+"), ("GET", "DELETE")),
]
_LISTED_TEXT = "POST /sms, GET and DELETE /sms/{id}, GET and DELETE /message/{id}"


def _bare(status: int) -> web.Response:
    """A 401 or 404 as the page documents it: no body to read, only a reason phrase."""
    return web.Response(status=status, text="Unauthorized" if status == 401 else "Not Found")


class SmsScheduler:
    """The routes of one emulated SMS Scheduler account.

    Attributes:
        sms_ids_shape: how ``POST /sms`` maps each number in ``sms_ids``: ``"list"`` (a list
            of ids, the default) or ``"integer"`` (one id).
        unlisted_codes: whether failures are drawn from unlisted codes too (34, 37).
    """

    def __init__(self, context: Context) -> None:
        """Raises `ConfigurationError` when the sandbox's ``timezone`` is not an IANA name."""
        self.context = context
        self.engine = context.engine
        self.account = context.account
        self._token = TOKEN
        self.sender_ids = frozenset({SENDER_ID})
        try:
            self.zone = zoneinfo.ZoneInfo(context.timezone)
        except (ValueError, LookupError):
            raise ConfigurationError(
                "timezone: must be an IANA name such as 'Europe/Paris'"
            ) from None
        self._now = context.now
        self._shape = "list"
        self.unlisted_codes = False

    @property
    def sms_ids_shape(self) -> str:
        return self._shape

    @sms_ids_shape.setter
    def sms_ids_shape(self, shape: str) -> None:
        if shape not in SMS_IDS_SHAPES:
            raise ConfigurationError("sms_ids_shape: must be 'list' or 'integer'")
        self._shape = shape

    def routes(self) -> list[web.RouteDef]:
        handle = self._guarded
        return [
            web.post("/sms", handle(self.context.sending(self.create))),
            web.get("/sms/{id}", handle(self.sms)),
            web.delete("/sms/{id}", handle(self.delete_sms)),
            web.get("/message/{id}", handle(self.message)),
            web.delete("/message/{id}", handle(self.delete_message)),
            web.route("*", "/{tail:.*}", self.unlisted),  # last: what no route above takes
        ]

    def config(self, base_url: str) -> dict[str, Any]:
        return {
            "provider": NAME,
            "base_url": base_url,
            "token": TOKEN,
            "sender_id": SENDER_ID,
            "senders": {SENDER: SENDER_ID},
            "timezone": self.context.timezone,
        }

    def on_final(self, sms: Sms) -> None:
        """Refund a failed message."""
        if sms.failed:
            self.account.credits += sms.credits

    def _guarded(self, handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Any]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or token != self._token:
                return _bare(401)
            self.engine.advance(self._now())
            response: web.StreamResponse = await handler(request)
            return response

        return guarded

    async def unlisted(self, request: web.Request) -> web.Response:
        """A method or path the page does not list: 405 on a listed path, else 404."""
        path = "/" + request.match_info["tail"]
        for pattern, methods in _LISTED:
            if pattern.fullmatch(path):
                allowed = " or ".join(methods)
                return web.json_response(
                    {"error": f"{request.method} {path} is not allowed; use {allowed}"},
                    status=405,
                    headers={"Allow": ", ".join(methods)},
                )
        return web.json_response(
            {"error": f"no such endpoint: {request.method} {path}; the API has {_LISTED_TEXT}"},
            status=404,
        )

    # -- POST /sms --------------------------------------------------------------------------

    async def create(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"errors": {"body": ["Invalid JSON"]}}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"errors": {"body": ["Expected an object"]}}, status=400)
        now = self._now()
        checked = check_sms(body, senders=self.sender_ids, zone=self.zone, now=now)
        if not isinstance(checked, SmsRequest):
            return web.json_response({"errors": checked}, status=400)
        message_id = self.account.next_id()
        text = checked.text
        parts = sms_parts(text)
        failures = FAILURES + UNLISTED_FAILURES if self.unlisted_codes else FAILURES
        created = []
        sms_ids: dict[str, Any] = {}
        for to in checked.numbers:
            outcome, failure = DELIVERED, None
            if self.engine.fails():
                outcome = failure = self.engine.random.choice(failures)
            sms = Sms(
                id=self.account.next_id(),
                provider=NAME,
                to=to,
                text=text,
                sender=str(checked.sender_id),
                parts=parts,
                credits=PRICING[NAME].credits(to, parts),
                created=now,
                send_at=checked.send_at,
                outcome=outcome,
                batch_id=message_id,
                failure=failure,
            )
            if self.account.credits >= sms.credits:
                self.account.credits -= sms.credits
            else:
                sms.outcome = sms.failure = NOT_ENOUGH_CREDITS
                sms.credits = 0
                sms.stage = Stage.FINAL
            self.account.messages[sms.id] = sms
            self.engine.add(sms, now)
            created.append(sms)
            if self._shape == "integer":
                sms_ids[to] = int(sms.id)
            else:
                sms_ids.setdefault(to, []).append(int(sms.id))
        self.account.batches[message_id] = created
        return web.json_response({"message_id": int(message_id), "sms_ids": sms_ids})

    # -- reports and deletions -------------------------------------------------------------

    def code(self, sms: Sms) -> int:
        return int(sms.outcome) if sms.stage is Stage.FINAL else CODES[sms.stage]

    def _report(self, sms: Sms, *, with_id: bool = False) -> dict[str, Any]:
        report: dict[str, Any] = {"phone_number": sms.to, "status": self.code(sms)}
        return {"id": int(sms.id), **report} if with_id else report

    def _live(self, sms_id: str) -> Sms | None:
        sms = self.account.messages.get(sms_id)
        return None if sms is None or sms.stage is Stage.CANCELLED else sms

    async def sms(self, request: web.Request) -> web.Response:
        sms = self._live(request.match_info["id"])
        if sms is None:
            return _bare(404)
        return web.json_response(self._report(sms))

    async def delete_sms(self, request: web.Request) -> web.Response:
        sms = self._live(request.match_info["id"])
        if sms is None:
            return _bare(404)
        deleted = self.engine.cancel(sms, self.account, self._now())
        return web.json_response({"success": deleted})

    def _message(self, request: web.Request) -> list[Sms] | None:
        batch = self.account.batches.get(request.match_info["id"])
        live = [sms for sms in batch or () if sms.stage is not Stage.CANCELLED]
        return live or None

    async def message(self, request: web.Request) -> web.Response:
        batch = self._message(request)
        if batch is None:
            return _bare(404)
        return web.json_response([self._report(sms, with_id=True) for sms in batch])

    async def delete_message(self, request: web.Request) -> web.Response:
        batch = self._message(request)
        if batch is None:
            return _bare(404)
        now = self._now()
        deleted = sum(self.engine.cancel(sms, self.account, now) for sms in batch)
        return web.json_response({"success": deleted})


EMULATOR = Emulator(
    name=NAME,
    title="SMS Scheduler",
    prefix="/smsscheduler/api/v1",
    first_id=500_001,
    build=SmsScheduler,
    refusals=frozenset(range(20, 30)),
)
register_emulator(EMULATOR)
