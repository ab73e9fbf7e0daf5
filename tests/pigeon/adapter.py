"""Pigeon Post's adapter: a pure codec (wire classes, tables, builders, readers) and a thin
gateway, using only smsgate's public provider API.

The API (fictional): ``X-Pigeon-Key`` authenticates; ``POST /messages`` takes
``{to, body, from, deliver_at}`` and answers 202 ``{id, state}``; ``GET /messages/{id}``
answers ``{id, to, state, error}``; ``DELETE /messages/{id}`` cancels a scheduled message;
``GET /balance`` answers ``{credits}``. Errors are ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Unpack
from urllib.parse import quote

import attrs

from smsgate import DeliveryStatus, FailureReason, Message, MessageRef, Receipt, StatusReport
from smsgate.errors import ConfigurationError, InvalidRequest, NotFound, ProviderError
from smsgate.model import check_send_time, message_id_of, with_receipt
from smsgate.numbers import read_number
from smsgate.providers._wire import converter, read, register
from smsgate.providers.base import HttpGateway, HttpOptions, HttpResponse
from smsgate.providers.codec import ErrorAnswer, provider_error
from smsgate.redaction import Secret

NAME = "pigeon"

# --- the codec ---------------------------------------------------------------------------

STATES: Mapping[str, DeliveryStatus] = {
    "scheduled": DeliveryStatus.SCHEDULED,
    "queued": DeliveryStatus.QUEUED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "failed": DeliveryStatus.UNDELIVERED,
    "blocked": DeliveryStatus.REJECTED,
    "cancelled": DeliveryStatus.CANCELLED,
}
REASONS: Mapping[str, FailureReason] = {
    "unreachable": FailureReason.NETWORK,
    "bad_number": FailureReason.INVALID_RECIPIENT,
    "blocked": FailureReason.BLOCKED,
}
ERRORS: Mapping[str, type[ProviderError]] = {"bad_number": InvalidRequest, "unknown": NotFound}


@attrs.frozen
class SendRequest:
    to: str
    body: str
    sender: str | None = None
    deliver_at: str | None = None


@attrs.frozen
class Accepted:
    id: str
    state: str


@attrs.frozen
class State:
    id: str
    state: str
    to: str | None = None
    error: str | None = None


@attrs.frozen
class Balance:
    credits: float


register(converter, SendRequest, sender="from")


def send_request(message: Message, at: datetime | None = None) -> SendRequest:
    return SendRequest(
        to=message.to,
        body=message.text,
        sender=message.sender,
        deliver_at=None if at is None else at.isoformat(timespec="seconds"),
    )


def parse_state(data: Any) -> StatusReport:
    """``GET`` or ``DELETE /messages/{id}``'s answer as a `StatusReport`.

    Raises:
        WireError: it is not a message's state.
    """
    state = read(data, State)
    reason = REASONS.get(state.error or "") if state.error else None
    return StatusReport(
        provider=NAME,
        message_id=state.id,
        status=STATES.get(state.state, DeliveryStatus.UNKNOWN),
        to=read_number(state.to),
        reason=reason,
        provider_status=state.state,
        detail=state.error,
        raw=data,
    )


def parse_error(
    status: int, headers: Mapping[str, str], body: bytes, *, advice: str | None = None
) -> ProviderError:
    answer = ErrorAnswer.read(status, headers, body)
    error = answer.field("error")
    code = error.get("code") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    fields: dict[str, Any] = {}
    if code == "bad_number":
        fields["reason"] = FailureReason.INVALID_RECIPIENT
    return provider_error(
        answer,
        provider=NAME,
        error_class=ERRORS.get(code) if isinstance(code, str) else None,
        detail=message if isinstance(message, str) else None,
        advice=advice,
        **fields,
    )


# --- the gateway -------------------------------------------------------------------------


class PigeonGateway(HttpGateway):
    """Pigeon Post: ``key`` authenticates every request."""

    name = NAME
    default_base_url = "https://api.pigeon.invalid/v2"
    auth_advice = "check the token: the API key from the Pigeon Post dashboard"

    def __init__(self, *, key: str, **options: Unpack[HttpOptions]) -> None:
        super().__init__(**options)
        if not isinstance(key, str) or not key.strip():
            raise ConfigurationError("key: give the Pigeon Post API key")
        self._key = Secret(key.strip())

    def secrets(self) -> list[str]:
        return [self._key.reveal()]

    def credentials_held(self) -> object:
        return self._key  # one Secret, never changed: the redactor is made once

    async def auth_headers(self) -> Mapping[str, str]:
        return self._key.header("X-Pigeon-Key")  # the same mapping: headers built once

    def error_from_response(self, response: HttpResponse) -> ProviderError:
        return parse_error(
            response.status, response.headers, response.body, advice=self.auth_advice
        )

    async def _post(self, message: Message, at: datetime | None) -> Receipt:
        self._check_message(message)
        data = await self.request_json(
            "POST",
            "/messages",
            json_body=send_request(message, at),
            messages=1,
            parts=self.parts((message,)),
        )
        accepted = self.read_answer("POST", "/messages", data, Accepted)
        return Receipt(
            provider=NAME,
            message_id=accepted.id,
            to=message.to,
            status=STATES.get(accepted.state, DeliveryStatus.UNKNOWN),
            reference=message.reference,
            metadata=message.metadata,
            scheduled_at=at,
            raw=data,
        )

    async def send(self, message: Message) -> Receipt:
        return await self._post(message, None)

    async def schedule(self, message: Message, at: datetime) -> Receipt:
        return await self._post(message, check_send_time(at))

    async def status(self, ref: MessageRef) -> StatusReport:
        path = f"/messages/{quote(message_id_of(ref), safe='')}"
        return with_receipt(await self.request_json("GET", path, read=parse_state), ref)

    async def cancel(self, ref: MessageRef) -> StatusReport:
        path = f"/messages/{quote(message_id_of(ref), safe='')}"
        return with_receipt(await self.request_json("DELETE", path, read=parse_state), ref)

    async def balance(self) -> float:
        answer = await self.request_json("GET", "/balance", read=Balance)
        return answer.credits
