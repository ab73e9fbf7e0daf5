"""SMS Scheduler, emulated: the endpoints, answers and status codes of its API page.

Auth: ``Authorization: Bearer <token>`` (any case of "bearer"); anything else is a bare 401.
``POST /sms`` is refused with 400 ``{"errors": {field: [message, ...]}}``, every bad field
listed. A ``delivery_date`` at or before now, read in the account's time zone, goes out at
once; a later one waits, as status 10. Credits are checked per SMS: one the account cannot
pay for is created with status 25 ("Cancelled - Not enough credits"), as the page lists.
Failed messages are refunded.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from smsgate.encoding import segments
from smsgate.errors import ConfigurationError, ValidationError
from smsgate.model import normalize_number
from smsgate.sandbox._emulator import Context, Emulator, register_emulator
from smsgate.sandbox._engine import Sms, Stage

NAME = "smsscheduler"
TOKEN = "sandbox-token"
SENDER, SENDER_ID = "Sandbox", 1
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

CODES = {Stage.SCHEDULED: 10, Stage.QUEUED: 11, Stage.SENT: 12}
DELIVERED = 13
NOT_ENOUGH_CREDITS = 25
FAILURES = [22, 24, 26, 28, 30, 31, 32, 33, 38]


class SmsScheduler:
    """The routes of one emulated SMS Scheduler account."""

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

    def routes(self) -> list[web.RouteDef]:
        handle = self._guarded
        return [
            web.post("/sms", handle(self.context.sending(self.create))),
            web.get("/sms/{id}", handle(self.sms)),
            web.delete("/sms/{id}", handle(self.delete_sms)),
            web.get("/message/{id}", handle(self.message)),
            web.delete("/message/{id}", handle(self.delete_message)),
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
                return web.Response(status=401, text="Unauthorized")
            self.engine.advance(self._now())
            response: web.StreamResponse = await handler(request)
            return response

        return guarded

    # -- POST /sms --------------------------------------------------------------------------

    def _check(self, body: dict[str, Any]) -> tuple[dict[str, list[str]], list[str], datetime]:
        errors: dict[str, list[str]] = {}

        def refuse(field: str, message: str) -> None:
            errors.setdefault(field, []).append(message)

        text = body.get("message_text")
        if not isinstance(text, str) or not text:
            refuse("message_text", 'The field "message_text" is required')
        stop = body.get("message_stop", False)
        if not isinstance(stop, bool):
            refuse("message_stop", 'The field "message_stop" must be a value of type "boolean"')
        sender = body.get("sender_id")
        if isinstance(sender, bool) or not isinstance(sender, int):
            refuse("sender_id", 'The field "sender_id" must be a value of type "integer"')
        elif sender not in self.sender_ids:
            refuse("sender_id", f"The sender {sender} does not exist")
        when = self._date(body.get("delivery_date"), refuse)
        numbers = body.get("phone_numbers")
        if isinstance(numbers, str):
            numbers = [numbers]
        read: list[str] = []
        if not isinstance(numbers, list) or not numbers:
            refuse("phone_numbers", 'The field "phone_numbers" must be a list of type "string"')
        else:
            for number in numbers:
                try:
                    if not isinstance(number, str) or not number.startswith("+"):
                        raise ValidationError("phone_numbers", "no country prefix")
                    read.append(normalize_number(number))
                except ValidationError:
                    refuse("phone_numbers", f"The following phone number is invalid: {number}")
        return errors, read, when

    def _date(self, written: Any, refuse: Callable[[str, str], None]) -> datetime:
        try:
            if not isinstance(written, str):
                raise ValueError(written)
            return datetime.strptime(written, DATE_FORMAT).replace(tzinfo=self.zone)
        except ValueError:
            refuse("delivery_date", 'The field "delivery_date" must be a date "Y-m-d H:i:s"')
            return self._now()

    async def create(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"errors": {"body": ["Invalid JSON"]}}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"errors": {"body": ["Expected an object"]}}, status=400)
        errors, numbers, send_at = self._check(body)
        if errors:
            return web.json_response({"errors": errors}, status=400)
        now = self._now()
        message_id = self.account.next_id()
        text = body["message_text"]
        parts = segments(text).parts
        created = []
        sms_ids: dict[str, list[int]] = {}
        for to in numbers:
            outcome, failure = DELIVERED, None
            if self.engine.fails():
                outcome = failure = self.engine.random.choice(FAILURES)
            sms = Sms(
                id=self.account.next_id(),
                provider=NAME,
                to=to,
                text=text,
                sender=str(body["sender_id"]),
                parts=parts,
                credits=parts,
                created=now,
                send_at=send_at,
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
            return web.Response(status=404, text="Not Found")
        return web.json_response(self._report(sms))

    async def delete_sms(self, request: web.Request) -> web.Response:
        sms = self._live(request.match_info["id"])
        if sms is None:
            return web.Response(status=404, text="Not Found")
        deleted = self.engine.cancel(sms, self.account, self._now())
        return web.json_response({"success": deleted})

    def _message(self, request: web.Request) -> list[Sms] | None:
        batch = self.account.batches.get(request.match_info["id"])
        live = [sms for sms in batch or () if sms.stage is not Stage.CANCELLED]
        return live or None

    async def message(self, request: web.Request) -> web.Response:
        batch = self._message(request)
        if batch is None:
            return web.Response(status=404, text="Not Found")
        return web.json_response([self._report(sms, with_id=True) for sms in batch])

    async def delete_message(self, request: web.Request) -> web.Response:
        batch = self._message(request)
        if batch is None:
            return web.Response(status=404, text="Not Found")
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
