"""Pigeon Post, emulated for `smsgate sandbox`: its four endpoints, written from its API
description (not from the adapter), on the sandbox's public emulator API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from smsgate.sandbox import Context, Emulator, Sms, Stage

NAME = "pigeon"
KEY = "sandbox-pigeon-key"
STATES = {Stage.SCHEDULED: "scheduled", Stage.QUEUED: "queued", Stage.SENT: "sent"}


class Pigeon:
    def __init__(self, context: Context) -> None:
        self.context = context
        self.account = context.account

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/messages", self._guarded(self.context.sending(self.create))),
            web.get("/messages/{id}", self._guarded(self.show)),
            web.delete("/messages/{id}", self._guarded(self.delete)),
            web.get("/balance", self._guarded(self.balance)),
        ]

    def config(self, base_url: str) -> dict[str, Any]:
        return {"provider": NAME, "base_url": base_url, "key": KEY}

    def on_final(self, sms: Sms) -> None:
        if sms.failed:  # failed messages are refunded
            self.account.credits += sms.credits

    def _guarded(self, handler: Any) -> Any:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if request.headers.get("X-Pigeon-Key") != KEY:
                return _error(401, "bad_key", "unknown key")
            answer: web.StreamResponse = await handler(request)
            return answer

        return guarded

    async def create(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "bad_json", "the body is not JSON")
        to, text = body.get("to") if isinstance(body, dict) else None, None
        if isinstance(body, dict):
            text = body.get("body")
        if not isinstance(to, str) or not to.startswith("+") or not to[1:].isdigit():
            return _error(400, "bad_number", f"{to!r} is not an international number")
        if not isinstance(text, str) or not text:
            return _error(400, "bad_body", "body is missing")
        now = self.context.now()
        send_at = now
        if body.get("deliver_at") is not None:
            try:
                send_at = datetime.fromisoformat(body["deliver_at"])
            except (TypeError, ValueError):
                return _error(400, "bad_date", "deliver_at is not ISO 8601")
        engine = self.context.engine
        fails = engine.fails()
        sms = Sms(
            id=f"p-{self.account.next_id()}",
            provider=NAME,
            to=to,
            text=text,
            sender=str(body.get("from") or "Pigeon"),
            parts=1,
            credits=1,
            created=now,
            send_at=send_at,
            outcome="failed" if fails else "delivered",
            failure="unreachable" if fails else None,
        )
        self.account.credits -= sms.credits
        self.account.messages[sms.id] = sms
        engine.add(sms, now)
        return web.json_response({"id": sms.id, "state": STATES[sms.stage]}, status=202)

    def _state(self, sms: Sms) -> dict[str, Any]:
        if sms.stage is Stage.CANCELLED:
            state = "cancelled"
        elif sms.stage is Stage.FINAL:
            state = sms.outcome
        else:
            state = STATES[sms.stage]
        return {"id": sms.id, "to": sms.to, "state": state, "error": sms.failure}

    async def show(self, request: web.Request) -> web.Response:
        sms = self.account.messages.get(request.match_info["id"])
        if sms is None:
            return _error(404, "unknown", "no such message")
        return web.json_response(self._state(sms))

    async def delete(self, request: web.Request) -> web.Response:
        sms = self.account.messages.get(request.match_info["id"])
        if sms is None:
            return _error(404, "unknown", "no such message")
        if not self.context.engine.cancel(sms, self.account, self.context.now()):
            return _error(409, "not_cancellable", "only a scheduled message can be cancelled")
        return web.json_response(self._state(sms))

    async def balance(self, request: web.Request) -> web.Response:
        return web.json_response({"credits": self.account.credits})


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


EMULATOR = Emulator(name=NAME, title="Pigeon Post", prefix="/pigeon/v2", first_id=1, build=Pigeon)
