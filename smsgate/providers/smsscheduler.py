"""SMS Scheduler (https://sms-scheduler.com): JSON over HTTPS, authenticated by a bearer token.

Endpoints (base ``https://sms-scheduler.com/api/v1``) and the methods that call them:

=========================  ===================================================================
``POST /sms``               `SmsSchedulerGateway.send` and `SmsSchedulerGateway.schedule`
``GET /sms/{id}``           `SmsSchedulerGateway.status` (one SMS: one recipient)
``DELETE /sms/{id}``        `SmsSchedulerGateway.cancel`
``GET /message/{id}``       `SmsSchedulerGateway.batch_status` (every SMS of one request)
``DELETE /message/{id}``    `SmsSchedulerGateway.cancel_batch`
=========================  ===================================================================

One ``POST /sms`` is one *message* (``message_id``) to many numbers, and each number gets its
own *SMS* (``sms_ids``). A `Receipt` is per recipient: its ``message_id`` is that recipient's
SMS id and its ``batch_id`` the request's message id.

Three published versions of the API page disagree (base URL, ``bearer``/``Bearer``,
``sms_ids`` values as lists or single integers); the choices are noted beside the code.
"""

from __future__ import annotations

import warnings
import zoneinfo
from collections.abc import Hashable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Unpack
from urllib.parse import quote

import attrs

from smsgate.checks import is_id
from smsgate.errors import (
    ConfigurationError,
    InvalidRequest,
    ProviderError,
    UnsupportedFeature,
    ValidationError,
)
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
    normalize_number,
    with_receipt,
)
from smsgate.providers._wire import WireError, make_converter
from smsgate.providers.base import (
    HttpGateway,
    HttpOptions,
    HttpResponse,
    Secret,
    provider_options,
)
from smsgate.status import DeliveryStatus, FailureReason

__all__ = ["STATUSES", "SmsSchedulerGateway"]

NAME: Final = "smsscheduler"
# The page in hand says http://test.sms-scheduler.com; the en-us and fr pages give this
# production URL. Never plain http for a bearer token: the test host is set with base_url.
BASE_URL: Final = "https://sms-scheduler.com/api/v1"
DATE_FORMAT: Final = "%Y-%m-%d %H:%M:%S"

# --- statuses and errors -------------------------------------------------------------------


@attrs.frozen
class StatusRule:
    """What one status code means."""

    status: DeliveryStatus
    reason: FailureReason | None
    description: str


_D, _R, _U, _E = (
    DeliveryStatus.DELIVERED,
    DeliveryStatus.REJECTED,
    DeliveryStatus.UNDELIVERED,
    DeliveryStatus.EXPIRED,
)
_F = FailureReason

STATUSES: Final[Mapping[int, StatusRule]] = {
    10: StatusRule(DeliveryStatus.SCHEDULED, None, "Scheduled"),
    11: StatusRule(DeliveryStatus.QUEUED, None, "Pending"),
    12: StatusRule(DeliveryStatus.SENT, None, "Sent"),
    13: StatusRule(_D, None, "Received"),
    20: StatusRule(_R, _F.INVALID_RECIPIENT, "Cancelled - Missing contact or phone number"),
    21: StatusRule(_R, _F.INVALID_CONTENT, "Cancelled - Missing text message"),
    22: StatusRule(_R, _F.INVALID_CONTENT, "Cancelled - Invalid text message"),
    23: StatusRule(_R, _F.INVALID_SENDER, "Cancelled - Missing sender"),
    24: StatusRule(_R, _F.INVALID_SENDER, "Cancelled - Invalid sender"),
    25: StatusRule(_R, _F.INSUFFICIENT_CREDIT, "Cancelled - Not enough credits"),
    26: StatusRule(_R, _F.BLOCKED, "Cancelled - Blacklisted contact or phone number"),
    27: StatusRule(_E, _F.EXPIRED, "Cancelled - End of validity period"),
    28: StatusRule(_R, _F.UNSUPPORTED_DESTINATION, "Cancelled - Unavailable country"),
    29: StatusRule(_R, _F.PROVIDER_ERROR, "Cancelled - Error"),
    30: StatusRule(_U, _F.INVALID_RECIPIENT, "Missed - Invalid phone number"),
    31: StatusRule(_U, _F.BLOCKED, "Missed - Blacklisted phone number or blocked by phone carrier"),
    32: StatusRule(_E, _F.EXPIRED, "Missed - End of validity period"),
    33: StatusRule(_U, _F.NETWORK, "Missed - Network not available on sending phone"),
    38: StatusRule(_U, _F.UNKNOWN, "Missed - Sending failed (Unknown reason)"),
    39: StatusRule(_U, _F.PROVIDER_ERROR, "Missed - Error"),
}
"""Every documented status code. 20-29 are the platform's refusals ("Cancelled - ..."),
30-39 the network's failures ("Missed - ...")."""

# Codes the docs do not list (14-19, 34-37) may appear: read them by their tens digit.
# (Every 2x code is listed, so none falls back to "2x -> REJECTED".)
_BY_TENS: Final[Mapping[int, StatusRule]] = {
    1: StatusRule(DeliveryStatus.UNKNOWN, None, "Unlisted status"),
    3: StatusRule(_U, _F.UNKNOWN, "Missed - unlisted reason"),
}
_UNKNOWN: Final = StatusRule(DeliveryStatus.UNKNOWN, None, "Unknown status")

# Which field of a 400's {"errors": {...}} says why a message was refused.
_FIELD_REASONS: Final[Mapping[str, FailureReason]] = {
    "phone_numbers": FailureReason.INVALID_RECIPIENT,
    "message_text": FailureReason.INVALID_CONTENT,
    "sender_id": FailureReason.INVALID_SENDER,
}

_OPTIONS: Final[Mapping[str, type]] = {"message_stop": bool}

# --- building requests ---------------------------------------------------------------------


@attrs.frozen
class _Sms:
    message_text: str
    delivery_date: str
    sender_id: int
    phone_numbers: list[str]
    message_stop: bool | None = None


_wire = make_converter()


def immediate_date(now: datetime | None = None) -> str:
    """A ``delivery_date`` that means "now" in every time zone.

    The API sends a message at once when its date is at or before the current date, and
    reads the date in the account's time zone. A day before now in UTC is in the past
    everywhere (offsets span -12 to +14 hours), so the message goes out at once whatever
    the account's zone, and whether or not it is configured here.
    """
    return ((now or datetime.now(UTC)) - timedelta(days=1)).strftime(DATE_FORMAT)


def delivery_date(at: datetime, zone: zoneinfo.ZoneInfo) -> str:
    """``at`` as the account's wall-clock time, ``YYYY-MM-DD HH:MM:SS``.

    Raises:
        ValidationError: that wall-clock time happens twice in ``zone`` (the hour when
            clocks go back), so the provider could send it an hour early or late; or it does
            not exist there (the hour when clocks go forward); or it cannot be written.
    """
    try:
        local = at.astimezone(UTC).astimezone(zone)  # the wall time of a real instant
        given = at.astimezone(zone)  # an aware time in this zone stays as written
    except OverflowError:
        raise ValidationError(
            "at", f"{at.isoformat()} cannot be written as a date in {zone.key}"
        ) from None
    if given.replace(tzinfo=None) != local.replace(tzinfo=None):
        raise ValidationError(
            "at",
            f"{given:%Y-%m-%d %H:%M} does not exist in {zone.key} (clocks go forward then); "
            "pick a time outside that hour",
        )
    if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
        raise ValidationError(
            "at",
            f"{local:%Y-%m-%d %H:%M} happens twice in {zone.key} (clocks go back then); "
            "SMS Scheduler could send it an hour early or late, so pick a time outside that hour",
        )
    return local.strftime(DATE_FORMAT)


def check_supported(message: Message) -> None:
    """Refuse what SMS Scheduler cannot express (before any request).

    Raises:
        UnsupportedFeature: the message has a validity period.
    """
    if message.validity is not None:
        raise UnsupportedFeature(
            NAME, "a validity period", "leave validity out, or send through another provider"
        )


def sms_payload(messages: Sequence[Message], sender_id: int, date: str) -> dict[str, Any]:
    """The body of ``POST /sms``: one text to every recipient of ``messages``."""
    first = messages[0]
    check_supported(first)
    body: dict[str, Any] = _wire.unstructure(
        _Sms(
            message_text=first.text,
            delivery_date=date,
            sender_id=sender_id,
            phone_numbers=[m.to for m in messages],  # always an array, E.164 with its +
            message_stop=provider_options(first, NAME, _OPTIONS).get("message_stop"),
        )
    )
    return body


# --- reading answers -----------------------------------------------------------------------


def parse_code(code: Any) -> tuple[StatusRule, int | str | None]:
    """A status code as a `StatusRule`, and the code as the provider sent it. Never raises."""
    number = code
    if isinstance(code, str) and code.strip().isdigit():
        number = int(code)
    if not isinstance(number, int) or isinstance(number, bool):
        return _UNKNOWN, code if isinstance(code, int | str) else None
    return STATUSES.get(number) or _BY_TENS.get(number // 10, _UNKNOWN), code


def _id(value: Any, what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise WireError(f"{what} is {value!r}, not an id")


def _number(written: Any) -> str | None:
    """A number from an answer, in E.164: with or without its ``+``."""
    if not isinstance(written, str) or not written.strip():
        return None
    text = written.strip()
    try:
        return normalize_number(text if text.startswith("+") else "+" + text)
    except ValidationError:
        return None


def parse_created(data: Any, recipients: Sequence[str]) -> tuple[str, dict[str, list[str]]]:
    """The answer of ``POST /sms``: the message id, and each recipient's SMS ids.

    ``sms_ids`` maps each number to a list of ids (the page in hand) or to one integer (the
    en-us and fr pages); either way each recipient gets a list. Keys may be the number as the
    provider normalised it, so they are matched in E.164.

    Raises:
        WireError: no message id, or a recipient without any SMS id.
    """
    if not isinstance(data, dict):
        raise WireError("expected an object")
    message_id = _id(data.get("message_id"), "message_id")
    sms_ids = data.get("sms_ids")
    if not isinstance(sms_ids, dict):
        raise WireError(f"sms_ids is {sms_ids!r}, not an object")
    wanted = set(recipients)
    by_number: dict[str, list[str]] = {}
    for key, value in sms_ids.items():
        # Most keys are the number as sent; only others need reading (phonenumbers is slow).
        number = key if key in wanted else _number(key)
        values = value if isinstance(value, list) else [value]
        if number is not None:
            by_number.setdefault(number, []).extend(_id(v, f"the SMS id of {key}") for v in values)
    missing = [to for to in recipients if not by_number.get(to)]
    if missing:
        raise WireError(f"no SMS id for {', '.join(missing)}")
    return message_id, by_number


def parse_report(
    data: Any, *, sms_id: str | None = None, message_id: str | None = None
) -> StatusReport:
    """One SMS's report (``{phone_number, status}``, with ``id`` in a message's list)."""
    if not isinstance(data, dict):
        raise WireError("expected an object")
    rule, code = parse_code(data.get("status"))
    return StatusReport(
        provider=NAME,
        message_id=_id(data.get("id"), "id") if sms_id is None else sms_id,
        status=rule.status,
        to=_number(data.get("phone_number")),
        reason=rule.reason,
        provider_status=code,
        detail=rule.description if rule.reason is not None else None,
        batch_id=message_id,
        raw=data,
    )


def parse_success(data: Any) -> int | None:
    """``{"success": ...}``: ``true``/``false`` (one SMS) or a count (a message).

    Returns the count, 1 or 0 for a boolean; ``None`` if the answer has no usable ``success``.
    """
    success = data.get("success") if isinstance(data, dict) else None
    if isinstance(success, bool):
        return int(success)
    if isinstance(success, int) and success >= 0:
        return success
    return None


# --- the gateway ---------------------------------------------------------------------------


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

    async def auth_headers(self) -> Mapping[str, str]:
        # The page in hand writes "bearer", the others "Bearer"; the scheme is
        # case-insensitive (RFC 9110), and "Bearer" is how it is registered.
        return {"Authorization": f"Bearer {self._token.reveal()}"}

    def error_from_response(self, response: HttpResponse) -> ProviderError:
        try:
            data = response.json()
        except ValueError:
            data = None
        errors = data.get("errors") if isinstance(data, dict) else None
        if response.status in (400, 422) and isinstance(errors, dict):
            per_field = {
                str(field): [
                    str(m) for m in (messages if isinstance(messages, list) else [messages])
                ]
                for field, messages in errors.items()
            }
            reason = next(
                (_FIELD_REASONS[f] for f in per_field if f in _FIELD_REASONS),
                FailureReason.INVALID_REQUEST,
            )
            return InvalidRequest(
                provider=self.name,
                http_status=response.status,
                errors=per_field,
                reason=reason,
                body=data,
            )
        return super().error_from_response(response)

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
        data = await self.request_json("POST", "/sms", json_body=body, messages=len(messages))
        try:
            message_id, sms_ids = parse_created(data, [m.to for m in messages])
        except WireError as exc:
            raise self.unusable_answer("POST", "/sms", f"an unexpected answer: {exc}") from exc
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
        self._ensure_open()
        [receipt] = await self._post_sms([message], None)
        return receipt

    async def schedule(self, message: Message, at: datetime) -> Receipt:
        """Have SMS Scheduler send ``message`` at ``at``, read in the account's time zone.

        Raises:
            ConfigurationError: the gateway has no ``timezone``.
            ValidationError: ``at`` is naive, past, or falls in a repeated hour.
        """
        self._ensure_open()
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
        options = provider_options(message, NAME, _OPTIONS)
        return (message.text, self._sender_id(message), options.get("message_stop"))

    async def send_chunk(self, messages: Sequence[Message], at: datetime | None) -> list[Receipt]:
        """Send (or schedule) messages of one `batch_key` in one ``POST /sms``."""
        self._ensure_open()
        return await self._post_sms(messages, at)

    # -- one SMS ----------------------------------------------------------------------------

    async def status(self, ref: MessageRef) -> StatusReport:
        """Where one SMS stands (``GET /sms/{id}``)."""
        sms_id = message_id_of(ref)
        path = f"/sms/{quote(sms_id, safe='')}"
        data = await self.request_json("GET", path)
        try:
            report = parse_report(data, sms_id=sms_id, message_id=_batch_of(ref))
        except WireError as exc:
            raise self.unusable_answer("GET", path, f"an unexpected answer: {exc}") from exc
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
        data = await self.request_json("GET", path)
        if not isinstance(data, list):
            raise self.unusable_answer("GET", path, "an answer that is not an array")
        try:
            return [parse_report(item, message_id=message_id) for item in data]
        except WireError as exc:
            raise self.unusable_answer("GET", path, f"an unexpected answer: {exc}") from exc

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
