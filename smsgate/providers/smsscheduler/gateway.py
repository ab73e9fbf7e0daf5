"""`SmsSchedulerGateway`: the token, the account's senders and time zone, and the I/O; every
byte it writes or reads goes through the pure codec (`smsgate.providers.smsscheduler.codec`)."""

from __future__ import annotations

import warnings
import zoneinfo
from collections.abc import Hashable, Mapping, Sequence
from datetime import datetime
from typing import Any, Unpack
from urllib.parse import quote

import attrs

from smsgate.checks import is_id
from smsgate.errors import ConfigurationError, InvalidRequest, ProviderError, ValidationError
from smsgate.gateway import BatchRef
from smsgate.model import (
    BatchReceipt,
    Message,
    MessageRef,
    Receipt,
    StatusReport,
    batch_id_of,
    check_send_time,
    message_id_of,
    with_receipt,
)
from smsgate.providers._wire import array_of
from smsgate.providers.base import HttpGateway, HttpOptions, HttpResponse
from smsgate.providers.smsscheduler.codec import (
    BASE_URL,
    NAME,
    check_supported,
    delivery_date,
    immediate_date,
    message_options,
    parse_created,
    parse_error,
    parse_report,
    parse_success,
    sms_payload,
)
from smsgate.redaction import Secret
from smsgate.status import DeliveryStatus

__all__ = ["SmsSchedulerGateway"]


class SmsSchedulerGateway(HttpGateway):
    """SMS Scheduler, through its REST API.

    Args:
        token: the API token from the account page (sent as ``Authorization: Bearer ...``).
        sender_id: the default sender: an id from the account's Senders page.
        senders: sender names to their ids, so that ``Message(sender="Acme")`` works.
        timezone: the account's time zone, an IANA name such as ``"Europe/Paris"``: SMS
            Scheduler reads ``delivery_date`` in it. Needed to schedule; not to send now.
        **options: `HttpOptions` (``base_url``, ``timeout``, ``session`` ...).

    Raises:
        ConfigurationError: the token is missing, or a sender id or the time zone is invalid.
    """

    name = NAME
    default_base_url = BASE_URL
    auth_advice = "check the token; a new one is made on the SMS Scheduler account page"

    def __init__(
        self,
        *,
        token: str,
        sender_id: int | None = None,
        senders: Mapping[str, int] | None = None,
        timezone: str | None = None,
        **options: Unpack[HttpOptions],
    ) -> None:
        super().__init__(**options)
        if not isinstance(token, str) or not token.strip():
            raise ConfigurationError("token: give the API token from the SMS Scheduler account")
        self._token = Secret(token.strip())
        if sender_id is not None and not is_id(sender_id):
            raise ConfigurationError("sender_id: must be a positive whole number")
        if senders is not None and not (
            isinstance(senders, Mapping)
            and all(isinstance(k, str) and is_id(v) for k, v in senders.items())
        ):
            raise ConfigurationError("senders: must map sender names to positive whole numbers")
        self.sender_id = sender_id
        self.senders: Mapping[str, int] = dict(senders or {})
        self.timezone: zoneinfo.ZoneInfo | None = None
        if timezone is not None:
            try:
                self.timezone = zoneinfo.ZoneInfo(timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
                raise ConfigurationError(
                    "timezone: must be an IANA time zone name such as 'Europe/Paris'"
                ) from None

    def secrets(self) -> list[str]:
        token = self._token.reveal()
        return [token, f"Bearer {token}"]  # the header's own form, base64 included

    def credentials_held(self) -> object:
        return self._token

    async def auth_headers(self) -> Mapping[str, str]:
        # The page in hand writes "bearer", the others "Bearer"; the scheme is
        # case-insensitive (RFC 9110), and "Bearer" is how it is registered.
        return self._token.header("Authorization", "Bearer")

    def error_from_response(self, response: HttpResponse) -> ProviderError:
        return parse_error(
            response.status, response.headers, response.body, advice=self.auth_advice
        )

    # -- sending ----------------------------------------------------------------------------

    def _sender_id(self, message: Message) -> int:
        if message.sender is None:
            if self.sender_id is None:
                raise ValidationError(
                    "sender",
                    "SMS Scheduler needs a sender: set the gateway's sender_id, or name one of "
                    "its senders on the message",
                )
            return self.sender_id
        sender_id = self.senders.get(message.sender)
        if sender_id is None:
            known = ", ".join(sorted(self.senders)) or "none"
            raise ValidationError(
                "sender",
                f"{message.sender!r} is not one of the gateway's senders ({known}); add it to "
                "senders with its id from the SMS Scheduler Senders page",
            )
        return sender_id

    async def _post_sms(self, messages: Sequence[Message], at: datetime | None) -> list[Receipt]:
        """One ``POST /sms`` for messages that share text, sender and options: a receipt each."""
        for message in messages:
            self._check_message(message)
        if at is None:
            date, status = immediate_date(), DeliveryStatus.QUEUED
        else:
            date, status = delivery_date(at, self._zone()), DeliveryStatus.SCHEDULED
        body = sms_payload(messages, self._sender_id(messages[0]), date)
        data = await self.request_json(
            "POST", "/sms", json_body=body, messages=len(messages), parts=self.parts(messages)
        )
        recipients = [m.to for m in messages]
        message_id, sms_ids = self.read_answer(
            "POST", "/sms", data, lambda answer: parse_created(answer, recipients)
        )
        # A number listed twice gets its ids in turn; if the provider gave fewer ids than
        # listings, the later ones share the last (the provider merged them).
        turn: dict[str, int] = {}
        receipts = []
        for message in messages:
            ids = sms_ids[message.to]
            position = turn.get(message.to, 0)
            turn[message.to] = position + 1
            receipts.append(
                Receipt(
                    provider=self.name,
                    message_id=ids[min(position, len(ids) - 1)],
                    to=message.to,
                    status=status,
                    batch_id=message_id,
                    reference=message.reference,
                    metadata=message.metadata,
                    scheduled_at=at,
                    raw=data,
                )
            )
        return receipts

    def _zone(self) -> zoneinfo.ZoneInfo:
        if self.timezone is None:
            raise ConfigurationError(
                "smsscheduler needs the account's time zone to schedule: set timezone (for "
                "example 'Europe/Paris', or SMSGATE_TIMEZONE). SMS Scheduler reads "
                "delivery_date in that zone, and a guess could text someone at the wrong hour"
            )
        return self.timezone

    async def send(self, message: Message) -> Receipt:
        """Send ``message`` now (``POST /sms`` with a date already past in every zone)."""
        [receipt] = await self._post_sms([message], None)
        return receipt

    async def schedule(self, message: Message, at: datetime) -> Receipt:
        """Have SMS Scheduler send ``message`` at ``at``, read in the account's time zone.

        Raises:
            ConfigurationError: the gateway has no ``timezone``.
            ValidationError: ``at`` is naive, past, or falls in a repeated hour.
        """
        check_send_time(at)
        [receipt] = await self._post_sms([message], at)
        return receipt

    # -- many numbers in one request (send_many) --------------------------------------------

    batch_limit = 500
    """Numbers per ``POST /sms`` in bulk sends. The API documents no limit; 500 keeps each
    request small (about 10 kB) and an error's blast radius bounded."""

    def batch_key(self, message: Message, at: datetime | None) -> Hashable:
        """Messages with the same text, sender and options share one ``POST /sms``."""
        self._check_message(message)
        if at is not None:
            self._zone()
        check_supported(message)
        options = message_options(message)
        return (message.text, self._sender_id(message), options.get("message_stop"))

    async def send_chunk(self, messages: Sequence[Message], at: datetime | None) -> list[Receipt]:
        """Send (or schedule) messages of one `batch_key` in one ``POST /sms``."""
        return await self._post_sms(messages, at)

    # -- one SMS ----------------------------------------------------------------------------

    async def status(self, ref: MessageRef) -> StatusReport:
        """Where one SMS stands (``GET /sms/{id}``)."""
        sms_id = message_id_of(ref)
        path = f"/sms/{quote(sms_id, safe='')}"
        batch_id = _batch_of(ref)
        report = await self.request_json(
            "GET", path, read=lambda data: parse_report(data, sms_id=sms_id, message_id=batch_id)
        )
        return with_receipt(report, ref)

    async def cancel(self, ref: MessageRef) -> StatusReport:
        """Cancel one scheduled SMS (``DELETE /sms/{id}``).

        Raises:
            InvalidRequest: SMS Scheduler answered that it did not delete it (already sent).
        """
        sms_id = message_id_of(ref)
        path = f"/sms/{quote(sms_id, safe='')}"
        data = await self.request_json("DELETE", path)
        deleted = parse_success(data)
        if deleted is None:
            raise self.unusable_answer("DELETE", path, f"an unexpected answer: {data!r}")
        if deleted == 0:
            raise InvalidRequest(
                f"SMS {sms_id} was not deleted; it may have been sent already",
                provider=self.name,
                http_status=200,
                body=data,
            )
        report = StatusReport(
            provider=self.name,
            message_id=sms_id,
            status=DeliveryStatus.CANCELLED,
            batch_id=_batch_of(ref),
            raw=data,
        )
        return with_receipt(report, ref)

    # -- one message to many numbers --------------------------------------------------------

    async def batch_status(self, batch: BatchRef) -> list[StatusReport]:
        """A report per SMS of one ``POST /sms`` (``GET /message/{id}``): pass its message id
        (a receipt's ``batch_id``), or any receipt from it."""
        message_id = batch_id_of(batch)
        path = f"/message/{quote(message_id, safe='')}"
        return await self.request_json(
            "GET", path, read=array_of(lambda item: parse_report(item, message_id=message_id))
        )

    async def cancel_batch(self, batch: BatchRef) -> BatchReceipt:
        """Cancel every SMS of one ``POST /sms`` (``DELETE /message/{id}``).

        The receipt says ``CANCELLED``; its ``raw`` is the answer, whose ``success`` is how
        many SMS were deleted (or ``true``).

        Raises:
            InvalidRequest: none was deleted (each had been sent or cancelled already).
        """
        message_id = batch_id_of(batch)
        deleted = await self._delete_message(message_id)
        if deleted.count == 0:
            raise InvalidRequest(
                f"nothing to cancel: no SMS of message {message_id} was still scheduled",
                provider=self.name,
            )
        return BatchReceipt(
            provider=self.name,
            batch_id=message_id,
            status=DeliveryStatus.CANCELLED,
            recipients=batch.recipients if isinstance(batch, BatchReceipt) else (),
            raw=deleted.raw,
        )

    async def message_status(self, message: Receipt | str) -> list[StatusReport]:
        """Deprecated: use `batch_status` (the same request); removed in the next release."""
        _deprecated("message_status", "batch_status")
        return await self.batch_status(message)

    async def cancel_message(self, message: Receipt | str) -> int | None:
        """Deprecated: use `cancel_batch`; removed in the next release.

        Returns:
            How many SMS were deleted (``None`` when the provider answered only ``true``).
        """
        _deprecated("cancel_message", "cancel_batch")
        return (await self._delete_message(batch_id_of(message))).count

    async def _delete_message(self, message_id: str) -> _Deleted:
        path = f"/message/{quote(message_id, safe='')}"
        data = await self.request_json("DELETE", path)
        success = data.get("success") if isinstance(data, dict) else None
        if success is True:
            return _Deleted(None, data)
        deleted = parse_success(data)
        if deleted is None:
            raise self.unusable_answer("DELETE", path, f"an unexpected answer: {data!r}")
        return _Deleted(deleted, data)


@attrs.frozen
class _Deleted:
    count: int | None
    raw: Any


def _deprecated(old: str, new: str) -> None:
    warnings.warn(
        f"SmsSchedulerGateway.{old} is deprecated; use {new} (the same request)",
        DeprecationWarning,
        stacklevel=3,
    )


def _batch_of(ref: MessageRef) -> str | None:
    return ref.batch_id if isinstance(ref, Receipt) else None
