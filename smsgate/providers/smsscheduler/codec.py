"""SMS Scheduler's codec: its status codes, request builders and answer readers, with no I/O.

`STATUSES` maps every documented code (10-39); `sms_payload` builds ``POST /sms`` and
`delivery_date` writes a time in the account's zone; `parse_created`, `parse_report`,
`parse_success` and `parse_error` read the answers (through its `schema`).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import attrs

from smsgate.errors import InvalidRequest, ProviderError, UnsupportedFeature, ValidationError
from smsgate.model import Message, StatusReport
from smsgate.numbers import read_number
from smsgate.providers._wire import WireError, read, write
from smsgate.providers.codec import ErrorAnswer, provider_error, provider_options
from smsgate.providers.smsscheduler import schema
from smsgate.status import DeliveryStatus, FailureReason

__all__ = [
    "BASE_URL",
    "DATE_FORMAT",
    "NAME",
    "STATUSES",
    "StatusRule",
    "check_supported",
    "delivery_date",
    "immediate_date",
    "message_options",
    "parse_code",
    "parse_created",
    "parse_error",
    "parse_report",
    "parse_success",
    "sms_payload",
]

NAME: Final = "smsscheduler"
# The page in hand says http://test.sms-scheduler.com; the en-us and fr pages give this
# production URL. Never plain http for a bearer token: the test host is set with base_url.
BASE_URL: Final = "https://sms-scheduler.com/api/v1"
DATE_FORMAT: Final = "%Y-%m-%d %H:%M:%S"


@attrs.frozen
class StatusRule:
    """What one status code means."""

    status: DeliveryStatus
    reason: FailureReason | None
    description: str


STATUSES: Final[Mapping[int, StatusRule]] = {
    10: StatusRule(DeliveryStatus.SCHEDULED, None, "Scheduled"),
    11: StatusRule(DeliveryStatus.QUEUED, None, "Pending"),
    12: StatusRule(DeliveryStatus.SENT, None, "Sent"),
    13: StatusRule(DeliveryStatus.DELIVERED, None, "Received"),
    20: StatusRule(
        DeliveryStatus.REJECTED,
        FailureReason.INVALID_RECIPIENT,
        "Cancelled - Missing contact or phone number",
    ),
    21: StatusRule(
        DeliveryStatus.REJECTED, FailureReason.INVALID_CONTENT, "Cancelled - Missing text message"
    ),
    22: StatusRule(
        DeliveryStatus.REJECTED, FailureReason.INVALID_CONTENT, "Cancelled - Invalid text message"
    ),
    23: StatusRule(
        DeliveryStatus.REJECTED, FailureReason.INVALID_SENDER, "Cancelled - Missing sender"
    ),
    24: StatusRule(
        DeliveryStatus.REJECTED, FailureReason.INVALID_SENDER, "Cancelled - Invalid sender"
    ),
    25: StatusRule(
        DeliveryStatus.REJECTED, FailureReason.INSUFFICIENT_CREDIT, "Cancelled - Not enough credits"
    ),
    26: StatusRule(
        DeliveryStatus.REJECTED,
        FailureReason.BLOCKED,
        "Cancelled - Blacklisted contact or phone number",
    ),
    27: StatusRule(
        DeliveryStatus.EXPIRED, FailureReason.EXPIRED, "Cancelled - End of validity period"
    ),
    28: StatusRule(
        DeliveryStatus.REJECTED,
        FailureReason.UNSUPPORTED_DESTINATION,
        "Cancelled - Unavailable country",
    ),
    29: StatusRule(DeliveryStatus.REJECTED, FailureReason.PROVIDER_ERROR, "Cancelled - Error"),
    30: StatusRule(
        DeliveryStatus.UNDELIVERED, FailureReason.INVALID_RECIPIENT, "Missed - Invalid phone number"
    ),
    31: StatusRule(
        DeliveryStatus.UNDELIVERED,
        FailureReason.BLOCKED,
        "Missed - Blacklisted phone number or blocked by phone carrier",
    ),
    32: StatusRule(
        DeliveryStatus.EXPIRED, FailureReason.EXPIRED, "Missed - End of validity period"
    ),
    33: StatusRule(
        DeliveryStatus.UNDELIVERED,
        FailureReason.NETWORK,
        "Missed - Network not available on sending phone",
    ),
    38: StatusRule(
        DeliveryStatus.UNDELIVERED,
        FailureReason.UNKNOWN,
        "Missed - Sending failed (Unknown reason)",
    ),
    39: StatusRule(DeliveryStatus.UNDELIVERED, FailureReason.PROVIDER_ERROR, "Missed - Error"),
}
"""Every documented status code. 20-29 are the platform's refusals ("Cancelled - ..."),
30-39 the network's failures ("Missed - ...")."""

# Codes the docs do not list (14-19, 34-37) may appear: read them by their tens digit.
# (Every 2x code is listed, so none falls back to "2x -> REJECTED".)
_BY_TENS: Final[Mapping[int, StatusRule]] = {
    1: StatusRule(DeliveryStatus.UNKNOWN, None, "Unlisted status"),
    3: StatusRule(DeliveryStatus.UNDELIVERED, FailureReason.UNKNOWN, "Missed - unlisted reason"),
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


def message_options(message: Message) -> dict[str, Any]:
    """The message's options for SMS Scheduler, checked (only ``message_stop``)."""
    return provider_options(message, NAME, _OPTIONS)


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
    body: dict[str, Any] = write(
        schema.SmsRequest(
            message_text=first.text,
            delivery_date=date,
            sender_id=sender_id,
            phone_numbers=[m.to for m in messages],  # always an array, E.164 with its +
            message_stop=message_options(first).get("message_stop"),
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


def parse_created(data: Any, recipients: Sequence[str]) -> tuple[str, dict[str, list[str]]]:
    """The answer of ``POST /sms``: the message id, and each recipient's SMS ids.

    ``sms_ids`` maps each number to a list of ids (the page in hand) or to one integer (the
    en-us and fr pages); either way each recipient gets a list. Keys may be the number as the
    provider normalised it, so they are matched in E.164.

    Raises:
        WireError: no message id, or a recipient without any SMS id.
    """
    created = read(data, schema.SmsCreated)
    message_id = _id(created.message_id, "message_id")
    sms_ids = created.sms_ids
    if not isinstance(sms_ids, dict):
        raise WireError(f"sms_ids is {sms_ids!r}, not an object")
    wanted = set(recipients)
    by_number: dict[str, list[str]] = {}
    for key, value in sms_ids.items():
        # Most keys are the number as sent; only others need reading (phonenumbers is slow).
        number = key if key in wanted else read_number(key)
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
    sms = read(data, schema.SmsReport)
    rule, code = parse_code(sms.status)
    return StatusReport(
        provider=NAME,
        message_id=_id(sms.id, "id") if sms_id is None else sms_id,
        status=rule.status,
        to=read_number(sms.phone_number),
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
    success = data.get("success") if isinstance(data, dict) else None  # no object: unusable
    if isinstance(success, bool):
        return int(success)
    if isinstance(success, int) and success >= 0:
        return success
    return None


def parse_error(
    status: int, headers: Mapping[str, str], body: bytes, *, advice: str | None = None
) -> ProviderError:
    """The error an HTTP error answer stands for.

    A 400 or 422 with ``{"errors": {field: [messages]}}`` is an `InvalidRequest` whose
    ``errors`` are those messages and whose reason follows the first field it knows
    (`_FIELD_REASONS`); anything else is read as any HTTP error (its class from the status).
    """
    answer = ErrorAnswer.read(status, headers, body)
    errors = answer.field("errors")
    if status in (400, 422) and isinstance(errors, dict):
        per_field = {
            str(field): [str(m) for m in (messages if isinstance(messages, list) else [messages])]
            for field, messages in errors.items()
        }
        reason = next(
            (_FIELD_REASONS[f] for f in per_field if f in _FIELD_REASONS),
            FailureReason.INVALID_REQUEST,
        )
        return InvalidRequest(
            provider=NAME, http_status=status, errors=per_field, reason=reason, body=answer.data
        )
    return provider_error(answer, provider=NAME, advice=advice)
